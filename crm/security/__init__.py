"""Who may sign in and do what: sign-in, passwords, lockout, the role matrix, protections."""
