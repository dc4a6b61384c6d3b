from django.apps import AppConfig


class ReturnsConfig(AppConfig):
    name = "marketplace.returns"
    label = "returns"
    verbose_name = "Returns"

    def ready(self) -> None:
        from marketplace.returns import checks  # noqa: F401  (registers the system check)
