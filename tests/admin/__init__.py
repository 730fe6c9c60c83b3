"""Tests of crm/admin."""
