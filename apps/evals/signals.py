"""When a worker starts, eval runs that a dead worker left RUNNING are queued again, so they continue."""

import logging

from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@worker_ready.connect
def resume_interrupted_evals(**_kwargs):
    from .services import evals_resume_interrupted

    try:
        count = evals_resume_interrupted()
    except Exception:  # noqa: BLE001 - a worker must start even if the database is not ready yet
        logger.exception("Could not look for interrupted eval runs")
        return
    if count:
        logger.info("Queued %s interrupted eval run(s) to continue", count)
