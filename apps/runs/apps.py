from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "apps.runs"

    def ready(self):
        from . import signals  # noqa: F401 - resume interrupted runs when a worker starts
