"""Tests of crm/audit."""
