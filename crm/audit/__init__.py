"""The audit trail: who and where for each change, and reverting a change."""
