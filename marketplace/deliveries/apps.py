from django.apps import AppConfig


class DeliveriesConfig(AppConfig):
    name = "marketplace.deliveries"
    label = "deliveries"
