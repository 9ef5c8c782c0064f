"""Real OpenAI-compatible servers for tests and benchmarks, serving the bundled model on loopback.

- transformers serve (`python -m transformers.cli.transformers serve <folder>`), on a plain model folder made
  from the bundled GGUF (`manage.py bundled_model_folder`; it cannot load the GGUF itself);
- llama.cpp's server from llama-cpp-python (`python -m llama_cpp.server --model <the bundled .gguf>`), which
  `make test` installs (built from source once, then from pip's wheel cache).

Each runs as a process of its own with HF_HUB_OFFLINE=1; nothing is downloaded.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / ".tools" / "smollm2-folder"
START_TIMEOUT_SECONDS = 300


class ServerFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RealServer:
    name: str
    process: subprocess.Popen
    base_url: str
    log: Path
    model_id: str = ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def _start(name: str, command: list[str], port: int, log: Path) -> RealServer:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=ROOT)
    server = RealServer(name, process, f"http://127.0.0.1:{port}/v1", log)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(f"{name} stopped (exit {process.returncode}):\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
                listed = json.load(response).get("data") or []
            server.model_id = listed[0]["id"] if listed else ""
            return server
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(1)
    server.stop()
    raise ServerFailed(f"{name} did not answer /v1/models within {START_TIMEOUT_SECONDS} s:\n{server.log_tail()}")


def model_folder() -> Path:
    """The bundled weights as a plain model folder under .tools/ (made once, about a minute)."""
    import django

    django.setup()
    from apps.llm.management.commands.bundled_model_folder import bundled_model_folder

    return bundled_model_folder(FOLDER)


def start_transformers_serve(log: Path, folder: Path | None = None) -> RealServer:
    """transformers serve on a Hugging Face model `folder` (the bundled model's by default)."""
    port = free_port()
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(folder or model_folder()),
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    return _start("transformers serve", command, port, log)


def start_llama_cpp(log: Path, model: Path | None = None, alias: str = "smollm2-135m") -> RealServer:
    """llama.cpp's server on `model` (a .gguf; the bundled one by default)."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise ServerFailed("llama-cpp-python is not installed: `make test` installs it (llama-cpp-python[server]"
                           "==0.3.36, built from source once)") from exc
    from apps.llm.bundled import weights_location

    model = model or Path(*weights_location())
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "4096", "--n_threads", str(os.cpu_count() or 2),
               "--model_alias", alias]
    return _start("llama.cpp's server", command, port, log)
