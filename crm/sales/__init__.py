"""The sales pipeline, the home dashboard's numbers and their charts (services, no views)."""
