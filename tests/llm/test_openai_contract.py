"""What our client sends must be what OpenAI's published API accepts: checked by the Prism mock server.

Prism validates each request against OpenAI's API description, vendored in tests/contracts/openai/, and answers 422
when one breaks it.
"""

import socket
import subprocess
import time
from pathlib import Path

import pytest

from apps.llm.client import complete
from apps.llm.models import Model
from apps.llm.providers import openai_compat
from apps.llm.services import model_test_connection
from apps.projects.kinds import answer_schema

ROOT = Path(__file__).resolve().parents[2]
PRISM = ROOT / ".tools" / "node_modules" / ".bin" / "prism"
SPEC = ROOT / "tests" / "contracts" / "openai" / "openapi.yaml"

pytestmark = pytest.mark.prism


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory):
    if not PRISM.exists() or not SPEC.exists():
        pytest.fail(f"Prism ({PRISM}) or OpenAI's API description ({SPEC}) is missing: run `make test`.")
    port = _free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
                                   stdout=out, stderr=subprocess.STDOUT)
    # About 20 s on an idle machine (it parses a 3 MB file); minutes when the CPUs are busy with other tests.
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        if b"Prism is listening" in log.read_bytes():
            break
        if process.poll() is not None:
            pytest.fail(f"Prism stopped:\n{log.read_text()[-2000:]}")
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"Prism did not start in time:\n{log.read_text()[-2000:]}")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def prism_model(prism_url):
    openai_compat._json_object_only.clear()
    yield Model(name="Prism", provider="openai", base_url=prism_url, model_id="gpt-4o-mini", api_key="sk-prism",
                max_retries=0, timeout_seconds=30, temperature=0.0, max_tokens=64)
    openai_compat._json_object_only.clear()


MESSAGES = [{"role": "system", "content": "Route the ticket."}, {"role": "user", "content": "My invoice is wrong"}]


@pytest.mark.parametrize("reasoning", [False, True])
def test_a_structured_classification_request_is_accepted(prism_model, project, reasoning):
    result = complete(prism_model, MESSAGES, schema=answer_schema(project, reasoning=reasoning))
    assert result.error == "", result.error


def test_an_ner_request_is_accepted(prism_model, db):
    from tests.factories import NerProjectFactory

    result = complete(prism_model, MESSAGES, schema=answer_schema(NerProjectFactory()))
    assert result.error == "", result.error


def test_the_json_object_fallback_is_accepted(prism_model, project):
    openai_compat._json_object_only.add((prism_model.base_url, prism_model.model_id))
    result = complete(prism_model, MESSAGES, schema=answer_schema(project))
    assert result.error == "", result.error


def test_the_test_connection_request_is_accepted(prism_model):
    assert model_test_connection(model=prism_model).error == ""


# Prism (5.x) checks request bodies for some paths (it refuses a bad fine-tuning job with 422) but lets any
# chat completion body through, even one without "model". So each body our client sends is also checked
# against the description's CreateChatCompletionRequest schema directly, with jsonschema.

@pytest.fixture(scope="session")
def chat_request_validator():
    import yaml
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    with open(SPEC) as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    registry = Registry().with_resource("urn:openai", Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": "urn:openai#/components/schemas/CreateChatCompletionRequest"},
                                registry=registry)


def _errors(validator, body) -> list[str]:
    return [error.message[:200] for error in validator.iter_errors(body)]


def test_every_chat_request_we_send_matches_the_published_schema(chat_request_validator, remote_model, llm_server,
                                                                 project, db):
    from tests.factories import NerProjectFactory

    openai_compat._json_object_only.clear()
    complete(remote_model, MESSAGES, schema=answer_schema(project))
    complete(remote_model, MESSAGES, schema=answer_schema(project, reasoning=True))
    complete(remote_model, MESSAGES, schema=answer_schema(NerProjectFactory()))
    model_test_connection(model=remote_model)
    llm_server.refuse_json_schema = True
    complete(remote_model, MESSAGES, schema=answer_schema(project))  # refused, then sent again as json_object
    openai_compat._json_object_only.clear()
    assert len(llm_server.requests) == 6
    for body in llm_server.requests:
        assert _errors(chat_request_validator, body) == [], body


def test_the_schema_check_has_teeth(chat_request_validator):
    assert _errors(chat_request_validator, {"model": "m", "messages": [{"role": "robot", "content": "hi"}]})
    assert _errors(chat_request_validator, {"messages": [{"role": "user", "content": "hi"}]})


def test_the_fine_tuning_requests_are_accepted(prism_url):
    """Upload, create (with a validation file and supervised hyperparameters), retrieve, events, cancel."""
    from apps.tuning.backends import openai_api

    model = Model(name="Prism", provider="openai", base_url=prism_url, model_id="gpt-4o-mini", api_key="sk-prism",
                  max_retries=0, timeout_seconds=30)
    line = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{}"}]}\n'
    file_id, job_id = openai_api.start(model=model, training=line * 10, validation=line * 2, suffix="taskllm-1",
                                       hyperparameters={"n_epochs": 3, "batch_size": 4,
                                                        "learning_rate_multiplier": 1.0})
    assert file_id and job_id
    state = openai_api.poll(model=model, job_id=job_id, after_event=None)
    assert state["status"] in {"VALIDATING", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"}
    openai_api.cancel(model=model, job_id=job_id)


def test_prism_refuses_a_fine_tuning_job_that_breaks_the_description(prism_url):
    """The check has teeth for this path: a job without a training file is refused (422)."""
    import openai

    client = openai.OpenAI(base_url=prism_url, api_key="sk-prism", max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError):
        client.post("/fine_tuning/jobs", cast_to=dict, body={"model": "gpt-4o-mini"})
