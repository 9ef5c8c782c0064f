from celery import shared_task
from django.conf import settings

from apps.core.jobs import job_task_status
from apps.core.models import JobStatus

from . import services
from .models import ParaphraseRequest, TestCaseImport


# As dataset_import_task: acked when it starts, not late, since the largest upload (a few ms a line) may outlast the
# broker's visibility timeout; a dead worker is noticed by its heartbeat and the import starts again from its file.
@shared_task(bind=True, acks_late=False, max_retries=10, soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def test_case_import_task(self, import_id: int) -> str:
    services.test_case_import_run(import_id=import_id)
    status = job_task_status(TestCaseImport, import_id)
    if status == JobStatus.RUNNING:
        # Another worker holds the import and is alive: look again once its heartbeat could have gone stale.
        raise self.retry(countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
    return status


# Acked when it starts, as the import: one model call, well inside the broker's visibility timeout, but a worker
# that dies mid-call is found by the heartbeat and the request is queued again (nothing is kept until its end).
@shared_task(bind=True, acks_late=False, max_retries=10, soft_time_limit=1800, time_limit=1800 + 60)
def paraphrase_request_task(self, request_id: int) -> str:
    from .paraphrases import paraphrase_request_run

    paraphrase_request_run(request_id=request_id)
    status = job_task_status(ParaphraseRequest, request_id)
    if status == JobStatus.RUNNING:
        # Another worker holds the request and is alive: look again once its heartbeat could have gone stale.
        raise self.retry(countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
    return status
