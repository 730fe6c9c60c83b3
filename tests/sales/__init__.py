"""Tests of crm/sales."""
