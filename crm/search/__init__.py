"""Global full-text search: the query language and the service."""
