"""Tests of crm/search."""
