from django.apps import AppConfig


class ParcelsConfig(AppConfig):
    name = "marketplace.parcels"
    label = "parcels"
