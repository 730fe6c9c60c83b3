"""Tests of crm/cli."""
