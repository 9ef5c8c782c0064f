from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "apps.datasets"

    def ready(self):
        from apps.core import jobs

        from .models import DatasetImport
        from .services import IMPORT_MAX_ATTEMPTS, import_enqueue

        jobs.register(DatasetImport, noun="import", enqueue=import_enqueue,
                      queue_of=lambda _import: jobs.interactive_queue(), max_attempts=IMPORT_MAX_ATTEMPTS)
