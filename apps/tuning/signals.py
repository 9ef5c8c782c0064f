import logging

from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@worker_ready.connect
def fail_stale_finetunes(**_kwargs):
    from .services import finetune_fail_stale

    try:
        count = finetune_fail_stale()
    except Exception:  # noqa: BLE001 - a worker must start even if the database is not ready yet
        logger.exception("Could not look for stale fine-tune jobs")
        return
    if count:
        logger.info("Marked %s fine-tune job(s) whose worker died as failed", count)
