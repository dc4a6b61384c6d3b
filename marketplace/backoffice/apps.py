from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """No models: the admin of every app, and operators' management commands."""

    name = "marketplace.backoffice"
    label = "backoffice"
    verbose_name = "Back office"
