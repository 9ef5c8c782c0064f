"""The one way to call a model: messages and an answer schema in; answer, validity, latency and tokens out.

`llm` knows nothing of projects or records: callers pass the answer's JSON schema and,
if they want validity checked, a `validate` callable that returns the answer's problems
(without one, any JSON object is valid). A `validate` that also has a `parse(text)` method
(apps.projects.kinds.AnswerCheck) reads replies that hold no JSON object its own way. An invalid
answer gets one repair turn (the reply and its problems sent back, asking for a corrected answer)
unless the caller turns that off; its tokens and time count in the output's.
"""

import asyncio
import copy
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from .concurrency import AdaptiveLimit
from .models import Model, Provider
from .structured import parse_reply, repair_message


class ModelCallError(Exception):
    """A call that failed for good (after any retries); the message says why, for people."""


@dataclass
class RawReply:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    method: str = ""  # how structured output was asked for
    confidence: float | None = None  # the bundled model's label margin (see providers.local.label_margin)
    seconds: float | None = None  # the answer's own time inside a batch, when the provider knows it (else the call's)


@dataclass
class Completion:
    text: str = ""
    answer: dict | None = None
    valid: bool = False
    problems: list[str] = field(default_factory=list)
    latency_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    error: str = ""
    repaired: bool = False  # a repair turn was made (whether or not it fixed the answer)
    confidence: float | None = None

    @property
    def status(self) -> str:
        return "error" if self.error else ("ok" if self.valid else "invalid")


def _provider(model: Model):
    if model.provider == Provider.LOCAL:
        from .providers import local

        return local
    from .providers import openai_compat

    return openai_compat


def can_sample(model: Model) -> bool:
    """Whether the model's provider samples at a temperature above 0 (the bundled model always answers greedily)."""
    return getattr(_provider(model), "SAMPLES", True)


def complete(model: Model, messages: list[dict], *, schema: dict,
             validate: Callable[[dict], list[str]] | None = None, repair: bool = True) -> Completion:
    """Ask `model` for an answer in `schema`'s shape. Never raises for a failed call: the error is recorded."""
    with Caller(model, repair=repair) as caller:
        return caller.submit(messages, schema=schema, validate=validate).result()


class Caller:
    """Calls one model many times, up to `concurrency` at once (never above the model's own
    `max_concurrency`); `submit` returns a Future of a Completion.

    Remote models are called from one asyncio event loop on a thread of its own: on a
    2-core machine that keeps a run near its ideal rate, where 32 threads each running the
    HTTP client fight over the interpreter lock. Calls in flight back off when the server
    struggles (llm/concurrency.py). The local model runs on a small thread pool.
    A `temperature` replaces the model's own for these calls (an eval's repeats), the row left untouched.
    """

    def __init__(self, model: Model, *, concurrency: int = 1, repair: bool = True,
                 temperature: float | None = None):
        if temperature is not None and temperature != model.temperature:
            model = copy.copy(model)
            model.temperature = temperature
        self.model = model
        ceiling = getattr(model, "max_concurrency", None) or concurrency
        self.concurrency = max(1, min(concurrency, ceiling))
        self.repair = repair
        self._provider = _provider(model)
        self._prepare_error = ""

    def __enter__(self) -> "Caller":
        try:
            self._provider.prepare(self.model)  # loading a local model is not part of an answer's latency
        except ModelCallError as exc:
            self._prepare_error = str(exc)
        if self._provider.ASYNC:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="model-calls", daemon=True)
            self._thread.start()
            self._client = self._in_loop(self._provider.open_client(self.model)).result()
            self._slots = self._in_loop(self._make_limit()).result()
        else:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="model-call")
        return self

    def __exit__(self, *exc) -> None:
        if self._provider.ASYNC:
            self._in_loop(self._client.close()).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
        else:
            self._pool.shutdown(wait=True)

    def submit(self, messages: list[dict], *, schema: dict,
               validate: Callable[[dict], list[str]] | None = None) -> Future:
        if self._provider.ASYNC:
            return self._in_loop(self._call_in_slot(messages, schema, validate))
        return self._pool.submit(self._call_sync, messages, schema, validate)

    def stream(self, jobs: Iterator[tuple], *, schema: dict, stop: threading.Event,
               tick_seconds: float = 0.25) -> Iterator[list[tuple]]:
        """Answer `jobs` ((key, messages, validate) tuples), `concurrency` at a time, yielding every
        `tick_seconds` the list of (key, Completion) that arrived meanwhile (maybe empty).

        Setting `stop` starts no new job; the ones in flight finish and are yielded. The jobs
        iterator is consumed on a worker thread (local models) or the event loop's (remote).
        Collecting answers in ticks, rather than waking for each, leaves the interpreter to the
        thread that makes the calls.
        """
        results: queue.Queue = queue.Queue()
        if self._provider.ASYNC:
            finished = self._in_loop(self._stream_async(jobs, schema, stop, results))
        else:
            finished = self._pool.submit(self._stream_threads, jobs, schema, stop, results)
        while True:
            wait([finished], timeout=tick_seconds)
            batch = []
            while True:
                try:
                    batch.append(results.get_nowait())
                except queue.Empty:
                    break
            yield batch
            if finished.done() and results.empty():
                finished.result()  # re-raise what went wrong in the producer, if anything
                return

    @property
    def limit(self) -> AdaptiveLimit | None:
        """The remote calls' limit (how far it backed off), None for a local model."""
        return self._slots if self._provider.ASYNC else None

    async def _stream_async(self, jobs, schema, stop, results) -> None:
        async def answer(key, messages, validate):
            success = False
            try:
                completion = await self._call_async(messages, schema, validate)
                success = not completion.error
                results.put((key, completion))
            finally:
                await self._slots.release(success=success)

        tasks: set = set()
        for key, messages, validate in jobs:
            await self._slots.acquire()  # a free slot: the next job starts as soon as an answer arrives
            if stop.is_set():
                await self._slots.release(success=False)
                break
            task = asyncio.ensure_future(answer(key, messages, validate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks)

    def _stream_threads(self, jobs, schema, stop, results) -> None:
        if hasattr(self._provider, "reply_batch"):
            return self._stream_batches(iter(jobs), schema, stop, results)
        for key, messages, validate in jobs:
            if stop.is_set():
                break
            results.put((key, self._call_sync(messages, schema, validate)))

    def _stream_batches(self, jobs, schema, stop, results) -> None:
        """Hand a batching provider (the local model) as many jobs at once as it asks for; each answer's latency
        is its own time in the batch when the provider says (RawReply.seconds), else its batch's."""
        while not stop.is_set():
            batch = list(itertools.islice(jobs, self._provider.batch_size(self.model, schema)))
            if not batch:
                return
            for key, completion in zip((key for key, _, _ in batch), self._call_batch(batch, schema), strict=True):
                results.put((key, completion))

    def _call_batch(self, batch: list[tuple], schema: dict) -> list[Completion]:
        started = time.perf_counter()
        if self._prepare_error:
            return [Completion(error=self._prepare_error) for _ in batch]
        try:
            replies = self._provider.reply_batch(self.model, [messages for _, messages, _ in batch], schema)
        except ModelCallError as exc:
            return [Completion(error=str(exc), latency_ms=_ms_since(started)) for _ in batch]
        return [_completion(reply, started, validate, schema)
                for reply, (_, _, validate) in zip(replies, batch, strict=True)]

    def _in_loop(self, coroutine) -> Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _make_limit(self) -> AdaptiveLimit:
        return AdaptiveLimit(self.concurrency)

    async def _call_in_slot(self, messages, schema, validate) -> Completion:
        await self._slots.acquire()
        completion = None
        try:
            completion = await self._call_async(messages, schema, validate)
            return completion
        finally:
            await self._slots.release(success=completion is not None and not completion.error)

    async def _call_async(self, messages, schema, validate) -> Completion:
        started = time.perf_counter()
        if self._prepare_error:
            return Completion(error=self._prepare_error)

        async def ask(turn: list[dict]) -> RawReply:
            return await self._provider.areply(self._client, self.model, turn, schema,
                                               on_pressure=self._slots.pressure)

        try:
            completion = _completion(await ask(messages), started, validate, schema)
        except ModelCallError as exc:
            return Completion(error=str(exc), latency_ms=_ms_since(started))
        if self.repair and completion.status == "invalid":
            try:
                second = await ask(_repair_turn(messages, completion, schema))
            except ModelCallError as exc:
                return _repair_failed(completion, exc, started)
            completion = _repaired(completion, second, started, validate, schema)
        return completion

    def _call_sync(self, messages, schema, validate) -> Completion:
        started = time.perf_counter()
        if self._prepare_error:
            return Completion(error=self._prepare_error)
        try:
            completion = _completion(self._provider.reply(self.model, messages, schema), started, validate, schema)
        except ModelCallError as exc:
            return Completion(error=str(exc), latency_ms=_ms_since(started))
        if self.repair and completion.status == "invalid":
            try:
                second = self._provider.reply(self.model, _repair_turn(messages, completion, schema), schema)
            except ModelCallError as exc:
                return _repair_failed(completion, exc, started)
            completion = _repaired(completion, second, started, validate, schema)
        return completion


def _completion(reply: RawReply, started: float, validate, schema: dict) -> Completion:
    latency_ms = round(reply.seconds * 1000) if reply.seconds is not None else _ms_since(started)
    completion = Completion(text=reply.text, latency_ms=latency_ms, input_tokens=reply.input_tokens,
                            output_tokens=reply.output_tokens)
    completion.answer, parse_problem = parse_answer(reply.text, schema)
    lenient = getattr(validate, "parse", None)
    if parse_problem and lenient is not None and (answer := lenient(reply.text)) is not None:
        completion.answer, parse_problem = answer, ""
    completion.problems = [parse_problem] if parse_problem else (validate(completion.answer) if validate else [])
    completion.valid = not completion.problems
    return completion


def _repair_turn(messages: list[dict], first: Completion, schema: dict) -> list[dict]:
    return [*messages, {"role": "assistant", "content": first.text}, repair_message(first.problems, schema)]


def _repaired(first: Completion, reply: RawReply, started: float, validate, schema: dict) -> Completion:
    """The answer after a repair turn: its reply and problems; both turns' tokens and the whole time."""
    second = _completion(reply, started, validate, schema)
    second.text = f"{first.text}\n\n{REPAIR_MARK}\n{reply.text}"
    second.input_tokens += first.input_tokens
    second.output_tokens += first.output_tokens
    second.repaired = True
    return second


def _repair_failed(first: Completion, exc: ModelCallError, started: float) -> Completion:
    """A repair turn that failed (a timeout, a 5xx) leaves the first answer invalid, with its reply, tokens and
    problems, and the failure among the reasons; it is not an error: the server did answer."""
    first.problems = [*first.problems, f"the repair turn failed: {exc}"]
    first.latency_ms = _ms_since(started)
    first.repaired = True
    return first


REPAIR_MARK = "[repair turn]"


def parse_answer(text: str, schema: dict | None = None) -> tuple[dict | None, str]:
    """The answer in a reply, read leniently (see llm/structured.py), or the reason there is none."""
    return parse_reply(text, schema)


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)

