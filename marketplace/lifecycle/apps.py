from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    """No models: an app so that Celery's autodiscovery finds lifecycle/tasks.py."""

    name = "marketplace.lifecycle"
    label = "lifecycle"
    verbose_name = "Delivery lifecycle"
