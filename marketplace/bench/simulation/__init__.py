"""The city-day simulator behind `manage.py simulate_day` (docs/simulation.md)."""
