from celery import shared_task
from django.conf import settings

from . import services
from .models import RunStatus


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=100,
             soft_time_limit=24 * 3600, time_limit=24 * 3600 + 60)
def run_execute_task(self, run_id: int) -> str:
    run = services.run_execute(run_id=run_id)
    if run.status == RunStatus.RUNNING:
        # Another worker holds the run and is alive: look again once its heartbeat could have gone stale.
        raise self.retry(countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
    return run.status
