"""What every generation job shares (runs and eval runs): answer a stream of prompts with a model while saving in
small batches, keep the job's heartbeat, and notice a cancel. Claiming and finishing the job row is the one
lifecycle of `apps/core/jobs.py`.
"""

import threading
import time
from collections.abc import Callable, Iterator

from apps.core.jobs import job_heartbeat
from apps.llm.client import Caller

HEARTBEAT_EVERY_SECONDS = 1.0
SAVE_EVERY_SECONDS = 0.25
SAVE_BATCH = 64


def answer_stream(job, *, model, concurrency: int, prompts: Iterator[tuple], schema: dict,
                  save: Callable[[list[tuple]], None], temperature: float | None = None) -> None:
    """Ask `model` every prompt ((key, messages, validate) tuples) and hand `save` lists of (key, Completion).

    Answers are saved in small batches: after a crash at most SAVE_EVERY_SECONDS of them are asked
    again, and the database is not hit once per answer. When the job is cancelled nothing new starts;
    what is in flight still gets saved. A `temperature` replaces the model's own (an eval's repeats).
    """
    stop = threading.Event()
    unsaved: list[tuple] = []
    last_save = last_beat = time.monotonic()
    # A run or eval row says whether an invalid answer gets a repair turn (on unless turned off).
    with Caller(model, concurrency=concurrency, repair=getattr(job, "repair", True),
                temperature=temperature) as caller:
        for arrived in caller.stream(prompts, schema=schema, stop=stop, tick_seconds=SAVE_EVERY_SECONDS):
            unsaved.extend(arrived)
            now = time.monotonic()
            if len(unsaved) >= SAVE_BATCH or now - last_save >= SAVE_EVERY_SECONDS:
                if unsaved:
                    save(unsaved)
                unsaved, last_save = [], now
            if now - last_beat >= HEARTBEAT_EVERY_SECONDS:
                last_beat = now
                if not job_heartbeat(job):
                    stop.set()
    if unsaved:
        save(unsaved)
