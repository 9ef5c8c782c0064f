from django.apps import AppConfig


class TuningConfig(AppConfig):
    name = "apps.tuning"
    verbose_name = "Fine-tuning"

    def ready(self):
        from . import signals  # noqa: F401 - mark jobs whose worker died when a worker starts
