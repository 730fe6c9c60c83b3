"""Tests of crm/security."""
