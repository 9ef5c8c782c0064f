"""Writing traces without delaying or failing an answer.

Contract:
- `record(trace)` only appends an unsaved `Trace` to an in-process buffer: no database work, no waiting.
- A background thread (started on first use in each process, after any fork) writes the buffer in batches
  of up to `TASKLLM_TRACE_BATCH` every `TASKLLM_TRACE_FLUSH_SECONDS`, and then samples the written traces into
  review (`services.traces_sample`).
- If the database is unavailable the batch goes back to the front of the buffer and is retried with a capped
  backoff; answers keep flowing and the traces are written when it is back.
- Nothing is lost silently: a trace that cannot be kept (the buffer is over `TASKLLM_TRACE_BUFFER_MAX`, or a row
  the database refuses for good) is counted, and the counts are written as `TraceWriteFailure` rows, which the
  deployment page shows. At exit a process flushes what it still holds.

With `TASKLLM_TRACE_FLUSH_SECONDS = 0` no thread starts and `flush()` writes on the caller's thread (tests).
"""

import atexit
import logging
import os
import threading
import time
from collections import Counter, deque

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, close_old_connections
from django.db import connection as db_connection

from .models import Trace, TraceWriteFailure

log = logging.getLogger(__name__)
OUTAGE = (OperationalError, InterfaceError)
MAX_BACKOFF_SECONDS = 2.0


class TraceBuffer:
    def __init__(self):
        self._pending: deque[Trace] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.lost: Counter = Counter()  # deployment id -> traces not kept, not yet recorded in the database
        self.written = 0
        self.outage_since: float | None = None

    # --- the request side ------------------------------------------------------------------

    def record(self, trace: Trace) -> None:
        with self._lock:
            if len(self._pending) >= settings.TASKLLM_TRACE_BUFFER_MAX:
                self.lost[trace.deployment_id] += 1
            else:
                self._pending.append(trace)
            full = len(self._pending) >= settings.TASKLLM_TRACE_BATCH
        self._ensure_thread()
        if full:
            self._wake.set()

    def pending(self) -> int:
        return len(self._pending)

    def find(self, trace_id) -> Trace | None:
        """A trace of this process not written yet (feedback can arrive before its trace is written)."""
        with self._lock:
            return next((t for t in self._pending if str(t.id) == str(trace_id)), None)

    # --- the writing side ------------------------------------------------------------------

    def flush(self) -> int:
        """Write everything pending, batch by batch; returns how many were written. Stops at an outage."""
        written = 0
        with self._flush_lock:
            while True:
                batch = self._take()
                if not batch:
                    break
                try:
                    written += self._write(batch)
                except OUTAGE as exc:
                    self._put_back(batch)
                    log.debug("Traces: writing failed: %s", exc)
                    _drop_connection()
                    if self.outage_since is None:
                        self.outage_since = time.monotonic()
                        log.warning("Traces: the database is unavailable; %d traces wait in memory", self.pending())
                    break
            if not self._pending and self.lost:
                self._record_lost()
        return written

    def _take(self) -> list[Trace]:
        with self._lock:
            count = min(len(self._pending), settings.TASKLLM_TRACE_BATCH)
            return [self._pending.popleft() for _ in range(count)]

    def _put_back(self, batch: list[Trace]) -> None:
        with self._lock:
            self._pending.extendleft(reversed(batch))

    def _write(self, batch: list[Trace]) -> int:
        try:
            Trace.objects.bulk_create(batch, ignore_conflicts=True)
            kept = batch
        except IntegrityError:
            kept = self._write_one_by_one(batch)  # one bad row (its deployment deleted) must not sink the rest
        if self.outage_since is not None:
            log.warning("Traces: the database is back after %.1f s", time.monotonic() - self.outage_since)
            self.outage_since = None
        self.written += len(kept)
        self._sample(kept)
        return len(kept)

    def _write_one_by_one(self, batch: list[Trace]) -> list[Trace]:
        kept = []
        for trace in batch:
            try:
                Trace.objects.bulk_create([trace], ignore_conflicts=True)
                kept.append(trace)
            except IntegrityError:  # counted on its deployment's page (if the deployment itself is not what is gone)
                with self._lock:
                    self.lost[trace.deployment_id] += 1
        return kept

    def _sample(self, traces: list[Trace]) -> None:
        from .services import traces_sample

        chosen = [t for t in traces if t.sampled_reason]
        if not chosen:
            return
        try:
            traces_sample(traces=chosen)
        except DatabaseError:
            # The traces are written and marked as sampled; `traces_sample_pending` picks them up later.
            log.exception("Traces: sampling into review failed; it will be retried")

    def _record_lost(self) -> None:
        with self._lock:
            lost, self.lost = self.lost, Counter()
        try:
            deployments = set(lost) - {None}
            from .models import Deployment

            existing = set(Deployment.objects.filter(id__in=deployments).values_list("id", flat=True))
            TraceWriteFailure.objects.bulk_create([
                TraceWriteFailure(deployment_id=d if d in existing else None, count=n,
                                  reason="the trace buffer was full or the database refused the row")
                for d, n in lost.items()])
        except DatabaseError:
            with self._lock:
                self.lost.update(lost)

    # --- the thread ------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if settings.TASKLLM_TRACE_FLUSH_SECONDS <= 0:
            return
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="trace-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        backoff = 0.0
        while settings.TASKLLM_TRACE_FLUSH_SECONDS > 0:  # set to 0 (tests), the thread stops; record() restarts it
            self._wake.wait(timeout=max(settings.TASKLLM_TRACE_FLUSH_SECONDS, backoff))
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the writer must never die: log, and try again on the next tick
                log.exception("Traces: writing a batch failed")
            try:
                close_old_connections()  # this thread's connection lives as long as DATABASES' CONN_MAX_AGE says
            except DatabaseError:
                pass
            backoff = min(MAX_BACKOFF_SECONDS, max(0.1, backoff * 2)) if self.outage_since else 0.0


def _drop_connection() -> None:
    try:
        db_connection.close()
    except DatabaseError:
        pass


BUFFER = TraceBuffer()


def install_exit_flush() -> None:
    atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    if not BUFFER.pending() and not BUFFER.lost:
        return
    try:
        BUFFER.flush()
    except Exception:
        log.exception("Traces: the final flush failed")
    if BUFFER.pending():
        log.error("Traces: %d traces could not be written before this process stopped", BUFFER.pending())
