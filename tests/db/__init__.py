"""Tests of crm/db and the schema."""
