from django.apps import AppConfig


class BenchConfig(AppConfig):
    """No models: an app so that its management commands are found."""

    name = "marketplace.bench"
    label = "bench"
    verbose_name = "Benchmarks"
