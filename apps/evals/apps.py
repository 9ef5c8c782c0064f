from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "apps.evals"
    verbose_name = "Evals and dashboards"

    def ready(self):
        from . import signals  # noqa: F401 - resume interrupted eval runs when a worker starts
