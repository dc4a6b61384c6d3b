from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "marketplace.matching"
    label = "matching"
