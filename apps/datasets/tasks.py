from celery import shared_task
from django.conf import settings

from apps.core.jobs import job_task_status
from apps.core.models import JobStatus

from . import services
from .models import DatasetImport


# Acked when it starts, not late: a large import may outlast the broker's visibility timeout. A worker that dies
# mid-import is noticed by its heartbeat (apps.core.jobs.jobs_recover) and the import starts again from its file.
@shared_task(bind=True, acks_late=False, max_retries=10, soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def dataset_import_task(self, import_id: int) -> str:
    services.import_run(import_id=import_id)
    status = job_task_status(DatasetImport, import_id)
    if status == JobStatus.RUNNING:
        # Another worker holds the import and is alive: look again once its heartbeat could have gone stale.
        raise self.retry(countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
    return status
