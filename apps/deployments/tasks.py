from celery import shared_task

from . import services


# Idempotent (a trace already sampled is skipped under a row lock), so acks_late is safe.
@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def traces_sample_pending_task() -> int:
    """Sample traces whose sampling into review failed when they were written (the database hiccuped)."""
    return services.traces_sample_pending()


# Each step is idempotent (atomic claims on schedules, rule windows and scheduled evals), so acks_late is safe.
@shared_task(acks_late=True, soft_time_limit=50, time_limit=55)
def watch_tick_task() -> dict:
    """Every minute (CELERY_BEAT_SCHEDULE): launch due scheduled evals, check finished ones, raise alerts."""
    from .watch import watch_tick

    return watch_tick()


# Acked late: a delivery is claimed by its status, and the receiver deduplicates by the delivery id if it must.
@shared_task(bind=True, acks_late=True, max_retries=None, soft_time_limit=30, time_limit=40)
def webhook_deliver_task(self, delivery_id: int) -> str:
    from .webhooks import PENDING, backoff, delivery_attempt

    delivery = delivery_attempt(delivery_id=delivery_id)
    if delivery.status == PENDING:
        raise self.retry(countdown=backoff(delivery.attempts))
    return delivery.status
