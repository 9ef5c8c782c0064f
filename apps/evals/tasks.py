from celery import shared_task
from django.conf import settings

from apps.core.jobs import job_task_status
from apps.core.models import JobStatus

from . import services
from .models import EvalRun


# Acked when it starts, not late, for the reason given on runs.tasks.run_execute_task: a large eval may outlast
# the broker's visibility timeout; a worker that dies mid-eval is noticed by its heartbeat and the eval resumes.
@shared_task(bind=True, acks_late=False, max_retries=100, soft_time_limit=24 * 3600, time_limit=24 * 3600 + 60)
def eval_execute_task(self, eval_id: int) -> str:
    services.eval_execute(eval_id=eval_id)
    status = job_task_status(EvalRun, eval_id)
    if status == JobStatus.RUNNING:
        # Another worker holds the eval and is alive: look again once its heartbeat could have gone stale.
        raise self.retry(countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
    return status
