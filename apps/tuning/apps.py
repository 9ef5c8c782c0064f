from django.apps import AppConfig


class TuningConfig(AppConfig):
    name = "apps.tuning"
    verbose_name = "Fine-tuning"

    def ready(self):
        from apps.core import jobs

        from .models import FineTuneJob
        from .services import finetune_enqueue, finetune_on_worker_lost, finetune_queue

        # A training step may take a while on a CPU: give a local job two minutes before it counts as dead.
        jobs.register(FineTuneJob, noun="fine-tune job", enqueue=finetune_enqueue, queue_of=finetune_queue,
                      on_worker_lost=finetune_on_worker_lost, stale_after_seconds=120)
