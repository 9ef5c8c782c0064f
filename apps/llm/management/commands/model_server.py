"""Serve local models (the bundled one and its fine-tunes) on loopback with OpenAI's chat completions API."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.llm.model_server import make_server


class Command(BaseCommand):
    help = "Serve local models on 127.0.0.1 with OpenAI's chat API (POST /v1/chat/completions, GET /v1/models)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=urlsplit(settings.TASKLLM_MODEL_SERVER_URL).port or 8100,
                            help="default: the port of TASKLLM_MODEL_SERVER_URL, where deployments call it")
        parser.add_argument("--host", default="127.0.0.1", help="loopback unless you put a proxy with auth in front")

    def handle(self, *args, host: str, port: int, **options):
        server = make_server(host, port)
        self.stdout.write(f"Local models at http://{host}:{port}/v1 (model-<id> per local model row)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
