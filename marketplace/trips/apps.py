from django.apps import AppConfig


class TripsConfig(AppConfig):
    name = "marketplace.trips"
    label = "trips"
