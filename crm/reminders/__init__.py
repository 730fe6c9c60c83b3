"""Task reminders (issue 19, part 6): notifications in the app and a daily email digest."""
