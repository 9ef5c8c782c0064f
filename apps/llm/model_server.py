"""TaskLLM's model server: local models (the bundled one and its fine-tunes) behind OpenAI's chat completions API.

    POST /v1/chat/completions   {"model": "model-<id>" | "bundled", "messages": [...], "max_tokens": N,
                                 "response_format": {"type": "json_schema", "json_schema": {"schema": {...}}},
                                 "stream": true | false}
    GET  /v1/models

It listens on loopback only, so the web process (which never imports torch) and deployments call local models
the way they call any OpenAI-compatible server. Models load on first use. Requests that arrive together for the
same model, answer schema and max tokens are answered in one batch (`providers.local.reply_batch`): a request
waits at most COLLECT_SECONDS for company. Greedy decoding only. With `stream: true` the answer comes as
OpenAI's server-sent chat.completion.chunk events once it is generated: a role delta, the whole answer as one
content delta, a last chunk with the finish reason and usage, then `data: [DONE]`. At scale vLLM takes this role
(see the README).
"""

import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import connections

from .client import ModelCallError
from .models import Model, Provider
from .serving import model_server_name

BUNDLED = "bundled"
COLLECT_SECONDS = 0.02


def model_row(name: str) -> Model:
    """The model row a served name stands for: a local model row by id, or the bundled model itself."""
    if name == BUNDLED:
        return Model(name=BUNDLED, provider=Provider.LOCAL)
    tail = name.rsplit("-", 1)[-1]
    pk = int(tail) if tail.isdigit() and model_server_name(Model(pk=int(tail))) == name else None
    row = Model.objects.filter(pk=pk, provider=Provider.LOCAL).first() if pk else None
    if row is None:
        raise LookupError(f"No local model {name!r}; GET /v1/models lists them.")
    return row


def served_names() -> list[str]:
    rows = Model.objects.filter(provider=Provider.LOCAL).order_by("pk").values_list("pk", flat=True)
    return [BUNDLED, *(model_server_name(Model(pk=pk)) for pk in rows)]


class Batcher:
    """One thread answers every request; requests waiting together with the same key go in one batch."""

    def __init__(self, *, max_batch: int = 16):
        self.max_batch = max_batch
        self.requests: queue.Queue = queue.Queue()
        self.batch_sizes: list[int] = []  # for tests and logs: how many requests each batch held
        threading.Thread(target=self._serve, name="model-server-batches", daemon=True).start()

    def submit(self, row: Model, messages: list[dict], schema: dict, max_tokens: int) -> Future:
        future: Future = Future()
        key = (row.pk or row.name, row.adapter, json.dumps(schema, sort_keys=True), max_tokens)
        self.requests.put((key, row, messages, schema, max_tokens, future))
        return future

    def _serve(self) -> None:
        while True:
            first = self.requests.get()
            batch, others = [first], []
            deadline = time.monotonic() + COLLECT_SECONDS
            while len(batch) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                try:
                    item = self.requests.get(timeout=left)
                except queue.Empty:
                    break
                (batch if item[0] == first[0] else others).append(item)
            for item in others:
                self.requests.put(item)  # a different model or schema: its own batch, next
            self._answer(batch)

    def _answer(self, batch: list[tuple]) -> None:
        from .providers import local

        _, row, _, schema, max_tokens, _ = batch[0]
        row.max_tokens = max_tokens
        self.batch_sizes.append(len(batch))
        try:
            local.prepare(row)
            replies = local.reply_batch(row, [item[2] for item in batch], schema)
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error, the server lives on
            for item in batch:
                item[5].set_exception(exc)
            return
        for item, reply in zip(batch, replies, strict=True):
            item[5].set_result(reply)


def make_server(host: str, port: int, *, batcher: Batcher | None = None) -> ThreadingHTTPServer:
    batcher = batcher or Batcher()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one_request(self):
            try:
                super().handle_one_request()
            finally:
                connections.close_all()  # no database connection held while a kept-alive client is idle

        def do_GET(self):  # noqa: N802 - the http.server protocol
            if self.path.rstrip("/") != "/v1/models":
                return self._send(404, _error("Not found.", "not_found"))
            return self._send(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "taskllm"} for name in served_names()]})

        def do_POST(self):  # noqa: N802
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(404, _error("Not found.", "not_found"))
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                row = model_row(str(body.get("model", "")))
                messages = body["messages"]
            except LookupError as exc:
                return self._send(404, _error(str(exc), "model_not_found"))
            except (ValueError, KeyError, TypeError):
                return self._send(400, _error("The body must be JSON with a model and messages.", "invalid_request"))
            started = time.perf_counter()
            future = batcher.submit(row, messages, _schema(body), int(body.get("max_tokens") or row.max_tokens))
            try:
                reply = future.result()
            except (ModelCallError, Exception) as exc:  # noqa: BLE001
                return self._send(502, _error(f"The local model failed: {exc}", "model_error"))
            if body.get("stream"):
                return self._send_events(_chunks(body["model"], reply, started))
            self._send(200, _completion(body["model"], reply, started))

        def _send_events(self, chunks: list[dict]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")  # the stream's end is the connection's end: no length to send
            self.end_headers()
            self.close_connection = True
            try:
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller went away: nothing to tell it

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # one line per request is noise in `make run`
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.batcher = batcher
    return server


def _schema(body: dict) -> dict:
    """The answer schema asked for in response_format ({} for free text)."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema") or {}
    return {}


def _completion(model: str, reply, started: float) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": reply.text}}],
        "usage": _usage(reply), "taskllm": _extension(reply, started),
    }


def _chunks(model: str, reply, started: float) -> list[dict]:
    """The streamed form of `_completion`: role, the whole answer as one content delta, finish reason with usage."""
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}

    def chunk(delta: dict, finish_reason: str | None = None) -> dict:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    return [chunk({"role": "assistant", "content": ""}), chunk({"content": reply.text}),
            {**chunk({}, "stop"), "usage": _usage(reply), "taskllm": _extension(reply, started)}]


def _usage(reply) -> dict:
    return {"prompt_tokens": reply.input_tokens, "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens}


def _extension(reply, started: float) -> dict:
    """TaskLLM's own fields beside OpenAI's: latency, and for a label the margin between the two best labels'
    probabilities as `confidence` (what a deployment's low-confidence sampling reads)."""
    extension = {"latency_ms": round((time.perf_counter() - started) * 1000)}
    if reply.confidence is not None:
        extension["confidence"] = reply.confidence
    return extension


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
