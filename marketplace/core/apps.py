from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "marketplace.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Connects the Celery task log lines (task_prerun / task_postrun).
        # Connects the Celery task metrics and the worker's metrics port.
        from marketplace.core import (
            log_context,  # noqa: F401
            metrics,  # noqa: F401
        )
