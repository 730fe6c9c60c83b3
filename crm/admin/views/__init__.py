"""The admin's views: one module per page or group of model views."""
