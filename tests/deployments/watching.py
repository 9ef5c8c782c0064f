"""Helpers for the watch tests: a deployment promoted on a real passing eval, and a webhook receiver on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from apps.deployments import services
from apps.deployments.webhooks import signature
from apps.evals.services import eval_create, eval_execute


def evaluate(project, model, version, capture, **kwargs):
    with capture(execute=False):
        eval_run = eval_create(project=project, model=model, prompt_version=version, repeats=1, **kwargs)
    return eval_execute(eval_id=eval_run.id)


def promoted_deployment(project, people, model, version, capture):
    baseline = evaluate(project, model, version, capture)
    assert baseline.gate_passed, "the baseline eval should pass"
    deployment = services.deployment_create(project=project, slug="ticket-router", user=people["lead"])
    services.promotion_create(deployment=deployment, model=model, prompt_version=version, reason="First",
                              user=people["lead"])
    return deployment, baseline


class Receiver:
    """An http.server on loopback answering each POST with the next status of `statuses` (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.requests.append({"body": body, "timestamp": self.headers["X-TaskLLM-Timestamp"],
                                          "signature": self.headers["X-TaskLLM-Signature"]})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"down for a moment" if status >= 500 else b"thanks")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/taskllm"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def verified(self, secret: str, request: dict) -> bool:
        return request["signature"] == signature(secret, request["timestamp"], request["body"])

    def events(self) -> list[str]:
        return [json.loads(r["body"])["event"] for r in self.requests]
