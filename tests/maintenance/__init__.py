"""Tests of crm/maintenance."""
