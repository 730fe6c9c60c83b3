"""The database server: where it is, the embedded one, outages and the planner."""
