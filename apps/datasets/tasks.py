from celery import shared_task
from django.conf import settings

from . import services
from .models import ImportStatus


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=10,
             soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def dataset_import_task(self, import_id: int) -> str:
    dataset_import = services.import_run(import_id=import_id)
    if dataset_import.status == ImportStatus.RUNNING:
        # Redelivered while the dead worker's heartbeat has not expired yet: look again later.
        raise self.retry(countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
    return dataset_import.status
