"""A deployment of a local model: the gateway and the task endpoint call the model server, which runs the bundled
model (one short request per test: label scoring, no generation)."""

import json
import threading

import pytest
from django.test import Client

from apps.deployments import services
from apps.deployments.models import Trace
from apps.deployments.trace_buffer import BUFFER
from apps.llm.model_server import Batcher, make_server
from apps.llm.models import Model

from .conftest import bearer, finished_eval

pytestmark = pytest.mark.local_model
SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["billing", "technical"]}},
          "required": ["label"]}


@pytest.fixture
def model_server(transactional_db, settings):  # the server reads the model row from a thread of its own
    server = make_server("127.0.0.1", 0, batcher=Batcher(max_batch=8))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.TASKLLM_MODEL_SERVER_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def local_key(model_server, project, people, prompt_version):
    project.labels = ["billing", "technical"]
    project.save()
    model = Model.objects.create(project=project, name="SmolLM2", provider="local", max_tokens=16,
                                 timeout_seconds=600)
    deployment = services.deployment_create(project=project, slug="local-router", user=people["lead"])
    finished_eval(project, model, prompt_version, passed=True)
    services.promotion_create(deployment=deployment, model=model, prompt_version=prompt_version,
                              reason="First version", user=people["lead"])
    deployment.sample_share = 0.0
    deployment.save()
    key, secret = services.key_create(deployment=deployment, name="App", user=people["lead"])
    key.secret = secret
    return key


def test_the_gateway_streams_a_local_models_answer_and_traces_its_text(local_key):
    body = {"model": "local-router", "stream": True, "max_tokens": 16,
            "messages": [{"role": "user", "content": "I was charged twice."}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}}
    response = Client().post("/v1/chat/completions", json.dumps(body), content_type="application/json",
                             **bearer(local_key.secret))
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    lines = b"".join(response.streaming_content).decode().splitlines()
    chunks = [json.loads(line[5:]) for line in lines if line.startswith("data:") and "[DONE]" not in line]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert json.loads(text)["label"] in ("billing", "technical")
    assert "data: [DONE]" in lines

    BUFFER.flush()
    trace = Trace.objects.get(id=response["X-TaskLLM-Trace-Id"])
    assert trace.raw_text == text and trace.valid and trace.status == "ok"
    assert trace.answer == json.loads(text) and trace.input_tokens > 0


def test_a_local_label_below_the_low_confidence_threshold_is_sampled(local_key):
    deployment = local_key.deployment
    deployment.sample_low_confidence = 1.0  # a margin is below 1 unless the other labels have no probability at all
    deployment.sample_invalid = False
    deployment.save()
    services.forget_keys()

    response = Client().post("/api/deployments/local-router/predict", json.dumps({"text": "I was charged twice."}),
                             content_type="application/json", **bearer(local_key.secret))

    assert response.status_code == 200 and response.json()["valid"]
    BUFFER.flush()
    trace = Trace.objects.get(id=response.json()["trace_id"])
    assert 0 < trace.confidence < 1
    assert trace.sampled_reason == "low confidence" and trace.review_output_id is not None
