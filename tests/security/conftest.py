"""A server someone else controls: it records every request (headers included) and can answer a redirect."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class CapturingServer:
    def __init__(self):
        self.requests: list[dict] = []
        self.redirect_to = ""
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                capture.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if capture.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", capture.redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = b'{"error": {"message": "nope"}}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def authorizations(self) -> list[str]:
        return [request["headers"].get("Authorization", "") for request in self.requests]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def capture_server():
    with CapturingServer() as server:
        yield server


@pytest.fixture
def second_capture_server():
    with CapturingServer() as server:
        yield server
