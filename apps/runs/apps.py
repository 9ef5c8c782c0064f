from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "apps.runs"

    def ready(self):
        from apps.core import jobs

        from .models import Run
        from .services import run_enqueue

        jobs.register(Run, noun="run", enqueue=run_enqueue, queue_of=lambda _run: jobs.default_queue())
