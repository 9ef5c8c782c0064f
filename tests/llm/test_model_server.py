"""The model server answers OpenAI chat completions with the bundled model, batching requests that arrive together."""

import json
import math
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.llm import serving
from apps.llm.model_server import Batcher, make_server
from apps.llm.models import Model
from apps.llm.providers import local
from apps.llm.serving import model_server_name

SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["billing", "technical"]}},
          "required": ["label"]}
TICKETS = ["My invoice is wrong.", "The app crashes on start.", "I was charged twice.", "Login fails."]


@pytest.fixture
def server(transactional_db):  # the server answers from threads of its own: rows must be committed
    server = make_server("127.0.0.1", 0, batcher=Batcher(max_batch=8))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1{path}"


def call(server, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url(server, path), data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def messages_for(text: str) -> list[dict]:
    return [{"role": "system", "content": "Route the ticket: billing or technical."}, {"role": "user", "content": text}]


def test_local_models_are_listed_by_the_name_deployments_call_them(server):
    base = Model.objects.create(name="SmolLM2", provider="local")
    tuned = Model.objects.create(name="tuned", provider="local", adapter="adapters/job-1", parent=base)
    Model.objects.create(name="remote", provider="openai", base_url="https://example.com/v1", model_id="m")

    status, listed = call(server, "/models")
    assert status == 200

    assert [m["id"] for m in listed["data"]] == ["bundled", model_server_name(base), model_server_name(tuned)]


def test_an_unknown_model_is_a_404_in_openais_error_shape(server):
    status, answer = call(server, "/chat/completions", {"model": "model-999", "messages": []})
    assert status == 404
    assert answer["error"]["code"] == "model_not_found"


@pytest.mark.local_model
def test_concurrent_requests_are_batched_and_answer_as_one_at_a_time(server):
    body = {"model": "bundled", "max_tokens": 16,
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}}
    local.prepare(Model(name="bundled", provider="local"))  # loading is not what this test waits for

    with ThreadPoolExecutor(len(TICKETS)) as pool:
        responses = list(pool.map(
            lambda text: call(server, "/chat/completions", {**body, "messages": messages_for(text)}), TICKETS))

    assert [status for status, _ in responses] == [200] * len(TICKETS)
    answers = [answer["choices"][0]["message"]["content"] for _, answer in responses]
    alone = [local.reply(Model(name="bundled", provider="local", max_tokens=16), messages_for(text), SCHEMA).text
             for text in TICKETS]
    assert answers == alone
    assert max(server.batcher.batch_sizes) > 1  # some requests shared a forward pass
    assert sum(server.batcher.batch_sizes) == len(TICKETS)
    assert responses[0][1]["usage"]["prompt_tokens"] > 0


@pytest.mark.local_model
def test_a_streamed_request_gets_openais_chunks_that_the_sdk_reads(server):
    from openai import OpenAI

    client = OpenAI(base_url=url(server, ""), api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="bundled", messages=messages_for("I was charged twice."), max_tokens=16, stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}})
    chunks = list(stream)

    assert [c.object for c in chunks] == ["chat.completion.chunk"] * len(chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text)["label"] in ("billing", "technical")
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.prompt_tokens > 0 and chunks[-1].usage.completion_tokens > 0


def test_the_label_margin_is_the_best_labels_probability_minus_the_second_best():
    assert local.label_margin([math.log(0.6), math.log(0.3), math.log(0.1)]) == pytest.approx(0.3)
    assert local.label_margin([math.log(0.02), math.log(0.01)]) == pytest.approx(1 / 3)  # normalised over labels
    assert local.label_margin([-4.0]) == 1.0


@pytest.mark.local_model
def test_a_label_answer_reports_its_label_margin_as_confidence(server):
    body = {"model": "bundled", "max_tokens": 16, "messages": messages_for("I was charged twice."),
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}}

    status, answer = call(server, "/chat/completions", body)

    assert status == 200
    alone = local.reply(Model(name="bundled", provider="local", max_tokens=16), body["messages"], SCHEMA)
    assert 0 < answer["taskllm"]["confidence"] < 1
    assert answer["taskllm"]["confidence"] == pytest.approx(alone.confidence, abs=1e-4)
    assert serving.confidence_of(answer) == answer["taskllm"]["confidence"]
