"""Background jobs on procrastinate, a PostgreSQL-backed queue (issue 19)."""
