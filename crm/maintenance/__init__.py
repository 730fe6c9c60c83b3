"""Keeping the data: seed and demo data, backup and restore, retention."""
