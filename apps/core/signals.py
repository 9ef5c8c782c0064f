"""When a worker starts, the jobs that a dead worker left RUNNING are queued again (or failed, by their type)."""

import logging

from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@worker_ready.connect
def recover_jobs(**_kwargs):
    from .jobs import jobs_recover

    try:
        counts = jobs_recover(worker_starting=True)
    except Exception:  # noqa: BLE001 - a worker must start even if the database is not ready yet
        logger.exception("Could not look for jobs whose worker died")
        return
    if any(counts.values()):
        logger.info("Jobs whose worker may have died: %(requeued)s queued again, %(failed)s failed", counts)
