"""The web image has no torch: the web process (settings, every URL's views, the WSGI app, Celery's client) must
import without the ML stack. A fresh interpreter refuses those packages and imports the web side."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ML_PACKAGES = ("torch", "transformers", "peft", "gguf", "accelerate", "safetensors", "tokenizers", "llama_cpp")

SCRIPT = f"""
import importlib.abc, sys

class RefuseML(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {ML_PACKAGES!r}:
            raise ImportError("the web process imported " + name)

sys.meta_path.insert(0, RefuseML())
from taskllm_site.wsgi import application  # django.setup(): settings, apps, models, admin
from taskllm_site.celery import app  # beat and the web's job_enqueue
from django.urls import get_resolver, URLPattern, URLResolver

def walk(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            walk(pattern.url_patterns)
        else:
            pattern.callback

walk(get_resolver().url_patterns)
print("web imports:", len([m for m in sys.modules if m.startswith("apps.")]), "modules of apps")
"""


def test_the_web_process_imports_without_torch_or_transformers():
    env = {**os.environ, "DJANGO_DEBUG": "true", "DJANGO_SETTINGS_MODULE": "taskllm_site.settings"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "web imports:" in result.stdout
