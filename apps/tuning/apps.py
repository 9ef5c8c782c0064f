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
        from .exports import ON_WORKER_LOST, export_enqueue, export_queue
        from .models import ModelExport

        # Merging and saving the weights may take a minute on a CPU between two heartbeats.
        jobs.register(ModelExport, noun="model export", enqueue=export_enqueue, queue_of=export_queue,
                      on_worker_lost=ON_WORKER_LOST, max_attempts=3, stale_after_seconds=300)
