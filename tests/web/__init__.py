"""Tests of crm/web."""
