from celery import shared_task
from django.conf import settings

from . import services


# Runs on the `train` queue. Acked when it starts, not late: a training killed mid-way must not start again by
# itself (a redelivery would), and it may run for hours, longer than the broker's visibility timeout. A worker that
# dies mid-training is noticed by its heartbeat (apps.core.jobs.jobs_recover): the job is queued again and goes on
# from its last checkpoint, or ends FAILED when it has none (services.finetune_on_worker_lost).
@shared_task(acks_late=False, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60)
def finetune_train_local_task(job_id: int) -> str:
    return services.finetune_train_local(job_id=job_id).status


# acks_late: one look at a remote job is short and safe to repeat, so a worker lost mid-look hands it to another.
@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=300, time_limit=360)
def finetune_remote_task(job_id: int) -> str:
    """Starts or looks at a remote job, then schedules itself again until the job ends (no sleeping worker)."""
    job, again = services.finetune_remote_step(job_id=job_id)
    if again:
        services.finetune_enqueue(job, countdown=settings.TASKLLM_FINETUNE_POLL_SECONDS)
    return job.status


# Acked at start: an export may outlast Redis's visibility timeout; a worker lost mid-export is found by the
# heartbeat and the export is queued again (registered RESUME in apps.py).
@shared_task(acks_late=False, soft_time_limit=3600, time_limit=3660)
def export_task(job_id: int) -> str:
    from . import exports

    return exports.export_run(export_id=job_id).status
