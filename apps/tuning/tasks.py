from celery import shared_task
from django.conf import settings

from . import services


@shared_task(soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60)
def finetune_train_local_task(job_id: int) -> str:
    """Runs on the `train` queue. Not acks_late: a worker killed mid-training must not start it again silently."""
    return services.finetune_train_local(job_id=job_id).status


@shared_task
def finetune_remote_task(job_id: int) -> str:
    """Starts or looks at a remote job, then schedules itself again until the job ends (no sleeping worker)."""
    job, again = services.finetune_remote_step(job_id=job_id)
    if again:
        finetune_remote_task.apply_async((job_id,), countdown=settings.TASKLLM_FINETUNE_POLL_SECONDS)
    return job.status
