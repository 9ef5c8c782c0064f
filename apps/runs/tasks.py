from celery import shared_task
from django.conf import settings

from apps.core.jobs import job_task_status
from apps.core.models import JobStatus

from . import services
from .models import Run


# Acked when it starts, not late: a run may outlast the broker's visibility timeout, and Redis would deliver an
# unacknowledged one again while it still runs. A worker that dies mid-run is noticed by its heartbeat instead
# (apps.core.jobs.jobs_recover, at worker start and from beat) and the run continues from its saved outputs.
@shared_task(bind=True, acks_late=False, max_retries=100, soft_time_limit=24 * 3600, time_limit=24 * 3600 + 60)
def run_execute_task(self, run_id: int) -> str:
    services.run_execute(run_id=run_id)
    status = job_task_status(Run, run_id)
    if status == JobStatus.RUNNING:
        # Another worker holds the run and is alive: look again once its heartbeat could have gone stale.
        raise self.retry(countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
    return status
