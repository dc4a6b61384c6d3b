from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "marketplace.hooks"
    label = "hooks"
    verbose_name = "Outbound webhooks"
