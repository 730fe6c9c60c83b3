"""Tests of crm/importing."""
