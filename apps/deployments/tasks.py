from celery import shared_task

from . import services


# Idempotent (a trace already sampled is skipped under a row lock), so acks_late is safe.
@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def traces_sample_pending_task() -> int:
    """Sample traces whose sampling into review failed when they were written (the database hiccuped)."""
    return services.traces_sample_pending()
