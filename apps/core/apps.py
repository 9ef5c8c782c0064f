from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"

    def ready(self):
        from . import signals  # noqa: F401 - recover the jobs of dead workers when a worker starts
