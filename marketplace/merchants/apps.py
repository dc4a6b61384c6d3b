from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "marketplace.merchants"
    label = "merchants"
    verbose_name = "Merchants"
