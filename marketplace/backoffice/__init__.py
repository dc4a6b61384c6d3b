"""The operators' side: Django admin, the demo data and the in-process periodic runner."""
