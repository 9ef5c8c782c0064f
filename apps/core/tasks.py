from celery import shared_task

from . import jobs


# acks_late: looking for dead workers twice is harmless; short, so the broker never redelivers it while it runs.
@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def jobs_recover_task() -> dict:
    """Celery beat's periodic stale-job check: queue again, or fail, the jobs whose worker died."""
    return jobs.jobs_recover()
