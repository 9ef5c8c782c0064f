from celery import shared_task
from django.conf import settings

from . import services
from .models import RunStatus


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=100,
             soft_time_limit=24 * 3600, time_limit=24 * 3600 + 60)
def eval_execute_task(self, eval_id: int) -> str:
    eval_run = services.eval_execute(eval_id=eval_id)
    if eval_run.status == RunStatus.RUNNING:
        # Another worker holds the eval and is alive: look again once its heartbeat could have gone stale.
        raise self.retry(countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
    return eval_run.status
