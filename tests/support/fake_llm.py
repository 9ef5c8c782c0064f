"""An OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks: scripted answers, faults on demand.

    with FakeLLMServer() as server:
        server.answer = lambda body: '{"label": "billing"}'
        server.faults.append(Fault.status(429, retry_after="1"))
        ...  # point a Model at server.base_url

Behaviours of real servers, on demand: `ignore_response_format` (transformers serve: HTTP 200, the
field dropped before answering), `fail_json_schema` (llama.cpp's server: HTTP 500 on an OpenAI-style
json_schema), `detail_errors` (FastAPI servers: errors as {"detail": "..."}), `pinned_model` (a server
serving one model: another id gets a 400 naming both), `one_at_a_time` (answers one request at a time),
`refuse_stop` (models that take no `stop` parameter: a 400 naming it).

It is a real server (ThreadingHTTPServer in a thread), so the code under test talks HTTP
to it exactly as to OpenAI, vLLM or Ollama; other processes (a Celery worker) can use it too.
"""

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    kind: str  # status, slow, malformed, drop
    status: int = 500
    headers: dict = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""
    body: dict | None = None  # the error body as sent, instead of one made of `message`

    @classmethod
    def status_code(cls, code: int, retry_after: str | None = None, message: str = "",
                    body: dict | None = None) -> "Fault":
        return cls("status", status=code, headers={"Retry-After": retry_after} if retry_after else {},
                   message=message, body=body)

    @classmethod
    def slow(cls, seconds: float) -> "Fault":
        return cls("slow", seconds=seconds)

    @classmethod
    def malformed(cls) -> "Fault":
        return cls("malformed")

    @classmethod
    def drop(cls) -> "Fault":
        return cls("drop")


def first_enum_answer(body: dict) -> str:
    """The default answer: the first allowed label of the schema (wherever the request carries it: any
    structured-output field, or described in the messages), or an empty object."""
    response_format = body.get("response_format") or {}
    schema = ((response_format.get("json_schema") or {}).get("schema") or response_format.get("schema")
              or body.get("guided_json") or body.get("format") or {})
    label = (schema.get("properties", {}).get("label") or {}).get("enum") if isinstance(schema, dict) else None
    if not label:
        described = re.search(r'"label": \{"type": "string", "enum": (\[[^\]]*\])',
                              " ".join(str(m.get("content", "")) for m in body.get("messages", [])))
        label = json.loads(described.group(1)) if described else None
    return json.dumps({"label": label[0]}) if label else "{}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients at once (a benchmark runs 32 in flight)


class FakeLLMServer:
    def __init__(self, *, delay: float = 0.0, port: int = 0):
        self.delay = delay
        self.answer = first_enum_answer
        self.faults: deque[Fault] = deque()
        self.refuse_json_schema = False
        self.ignore_response_format = False
        self.fail_json_schema = False
        self.detail_errors = False
        self.pinned_model: str | None = None
        self.one_at_a_time = False
        self.refuse_stop = False
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[dict] = []
        self.authorizations: list[str] = []  # the Authorization header of each chat request, in order
        self._answering = threading.Lock()
        # Fine-tuning: each look at a job moves it one state on, to `fine_tune_outcome` at the end.
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, dict] = {}
        self.fine_tune_outcome = "succeeded"
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    FINE_TUNE_STATES = ["validating_files", "queued", "running"]

    def _store_file(self, raw: bytes, content_type: str) -> dict:
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = raw
        purpose = "fine-tune" if b'name="purpose"' in raw and b"fine-tune" in raw else "unknown"
        return {"id": file_id, "object": "file", "bytes": len(raw), "created_at": int(time.time()),
                "filename": "train.jsonl", "purpose": purpose, "status": "processed"}

    def _create_job(self, body: dict) -> dict:
        with self._lock:
            job_id = f"ftjob-{len(self.jobs) + 1}"
            job = {"id": job_id, "object": "fine_tuning.job", "model": body.get("model"),
                   "training_file": body.get("training_file"), "validation_file": body.get("validation_file"),
                   "created_at": int(time.time()), "status": "validating_files", "fine_tuned_model": None,
                   "organization_id": "org-fake", "result_files": [], "seed": 0, "trained_tokens": None,
                   "error": None, "finished_at": None, "hyperparameters": {"n_epochs": "auto"},
                   "_body": body, "_events": [], "_looks": 0}
            self.jobs[job_id] = job
        self._add_event(job, "Validating training file")
        return self._public(job)

    def _add_event(self, job: dict, message: str) -> None:
        job["_events"].append({"id": f"ftevent-{job['id']}-{len(job['_events']) + 1}", "object":
                               "fine_tuning.job.event", "created_at": int(time.time()), "level": "info",
                               "message": message})

    def _advance(self, job: dict) -> dict:
        with self._lock:
            if job["status"] in self.FINE_TUNE_STATES:
                job["_looks"] += 1
                position = self.FINE_TUNE_STATES.index(job["status"])
                if position + 1 < len(self.FINE_TUNE_STATES):
                    job["status"] = self.FINE_TUNE_STATES[position + 1]
                    self._add_event(job, f"Job is {job['status']}")
                elif self.fine_tune_outcome == "succeeded":
                    job["status"], job["fine_tuned_model"] = "succeeded", f"ft:{job['model']}:taskllm:{job['id']}"
                    job["trained_tokens"] = 1234
                    self._add_event(job, "The job has successfully completed")
                else:
                    job["status"] = "failed"
                    job["error"] = {"code": "invalid_training_file", "message": "Scripted failure", "param": None}
                    self._add_event(job, "The job failed")
        return self._public(job)

    @staticmethod
    def _public(job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                path = self.path.split("?")[0].rstrip("/")
                if path == "/v1/models":
                    return self._json(200, {"object": "list", "data": [{"id": server.pinned_model or "fake",
                                                                         "object": "model"}]})
                parts = path.split("/")
                if len(parts) >= 5 and parts[2:4] == ["fine_tuning", "jobs"] and parts[4] in server.jobs:
                    job = server.jobs[parts[4]]
                    if len(parts) == 6 and parts[5] == "events":
                        return self._json(200, {"object": "list", "has_more": False,
                                                "data": list(reversed(job["_events"]))})
                    return self._json(200, server._advance(job))
                self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = self.path.rstrip("/")
                if path == "/v1/files":
                    return self._json(200, server._store_file(raw, self.headers.get("Content-Type", "")))
                if path == "/v1/fine_tuning/jobs":
                    return self._json(200, server._create_job(json.loads(raw)))
                if path.startswith("/v1/fine_tuning/jobs/") and path.endswith("/cancel"):
                    job = server.jobs[path.split("/")[4]]
                    job["status"] = "cancelled"
                    return self._json(200, server._public(job))
                body = json.loads(raw or b"{}")
                if path != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                with server._lock:
                    server.requests.append(body)
                    server.authorizations.append(self.headers.get("Authorization", ""))
                fault = server.next_fault()
                if fault and fault.kind == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault and fault.kind == "status" and fault.body is not None:
                    return self._json(fault.status, fault.body, fault.headers)
                if fault and fault.kind == "status":
                    return self._error(fault.status, fault.message or f"scripted {fault.status}", fault.headers)
                asks_json_schema = (body.get("response_format") or {}).get("type") == "json_schema"
                if server.refuse_json_schema and asks_json_schema:
                    return self._json(400, {"error": {"message": "response_format json_schema is not supported",
                                                      "param": "response_format"}})
                if server.fail_json_schema and asks_json_schema:
                    return self._error(500, "1 validation error for CreateChatCompletionRequest: response_format: "
                                       "Input should be 'text' or 'json_object' [input: 'json_schema']")
                if server.refuse_stop and "stop" in body:
                    return self._json(400, {"error": {"message": "Unsupported parameter: 'stop' is not supported "
                                                      "with this model.", "param": "stop"}})
                if server.pinned_model and body.get("model") != server.pinned_model:
                    return self._error(400, f"Server is pinned to '{server.pinned_model}'; requested "
                                       f"'{body.get('model')}'")
                if server.ignore_response_format:
                    body.pop("response_format", None)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.one_at_a_time:
                        with server._answering:
                            content = self._answer(body, fault)
                    else:
                        content = self._answer(body, fault)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                if content is None:
                    return self._raw(200, b'{"id": "x", "choices": [')
                if body.get("stream"):
                    return self._stream(body, content)
                words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                self._json(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": words, "completion_tokens": len(content.split()),
                              "total_tokens": words + len(content.split())},
                })

            def _answer(self, body: dict, fault: Fault | None) -> str | None:
                time.sleep(server.delay + (fault.seconds if fault and fault.kind == "slow" else 0))
                if fault and fault.kind == "malformed":
                    return None
                return server.answer(body)

            def _error(self, status: int, message: str, headers: dict | None = None):
                payload = {"detail": message} if server.detail_errors else {"error": {"message": message}}
                self._json(status, payload, headers)

            def _stream(self, body: dict, content: str):
                """Server-sent events as OpenAI streams them: one chunk per word, then [DONE]."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                words = content.split(" ")
                pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
                for piece in pieces:
                    chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                             "model": body.get("model", "fake"),
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _json(self, status: int, payload: dict, headers: dict | None = None):
                self._raw(status, json.dumps(payload).encode(), headers)

            def _raw(self, status: int, data: bytes, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test): nothing to tell it

        return Handler


def main() -> None:
    """Serve on a fixed port from a process of its own (benchmarks): python -m tests.support.fake_llm --delay 0.1"""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeLLMServer(delay=args.delay, port=args.port)
    print(server.base_url, flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
