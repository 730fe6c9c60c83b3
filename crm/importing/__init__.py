"""CSV import of customers and leads: read the file, map its columns, validate, import."""
