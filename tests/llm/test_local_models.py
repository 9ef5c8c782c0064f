"""Bring your own model: tiny models made here (a Llama and a Qwen2 of random weights, with the bundled tokenizer
and its chat template) are listed in the models folder, registered, answer a run, fine-tune and export."""

import json
import struct

import pytest
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.core.models import JobStatus
from apps.llm.client import complete
from apps.llm.local_models import describe, local_models, safetensors_parameters
from apps.llm.models import Model
from apps.llm.services import local_model_register
from apps.prompts.rendering import render_messages, schema_for
from apps.prompts.services import prompt_create
from apps.review.services import training_example_create
from apps.runs.services import run_create, run_execute
from apps.tuning.exports import export_create, export_run
from apps.tuning.services import finetune_launch, finetune_train_local
from tests.conftest import api_as, login
from tests.factories import UserFactory
from tests.support.tiny_models import ARCHITECTURES, make_models_folder

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory):
    """A models folder with two tiny random models and two that cannot be used; {name: parameter count}."""
    root = tmp_path_factory.mktemp("models")
    return root, make_models_folder(root)


@pytest.fixture
def folder(models_folder, settings):
    settings.TASKLLM_MODELS_DIR = models_folder[0]
    return models_folder


def test_the_parameter_count_is_read_from_the_safetensors_header(tmp_path):
    header = json.dumps({"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [3, 4],
                                                                 "data_offsets": [0, 48]},
                         "b": {"dtype": "F32", "shape": [5], "data_offsets": [48, 68]}}).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(68))
    assert safetensors_parameters(path) == 17


def test_the_models_folder_lists_each_model_with_its_shape_and_why_it_cannot_be_used(folder):
    _root, counts = folder
    entries = {info.path: info for info in local_models()}
    assert set(entries) == {"tiny-llama", "tiny-qwen2", "no-template", "no-config"}
    for name, architecture in ARCHITECTURES.items():
        info = entries[name]
        assert info.usable and info.kind == "folder" and info.architecture == architecture
        assert info.parameters == counts[name] and info.context_length == 512 and info.chat_template
        assert info.bytes_fp32 == 4 * counts[name] and info.bytes_bf16 == 2 * counts[name]
    assert not entries["no-template"].usable
    assert any("chat template" in problem for problem in entries["no-template"].problems)
    assert any("config.json" in problem for problem in entries["no-config"].problems)
    assert any("tokenizer" in problem.lower() for problem in entries["no-config"].problems)


def test_a_model_that_cannot_be_loaded_or_lies_outside_the_folder_is_refused_with_the_reason(folder, db):
    with pytest.raises(ApplicationError) as refused:
        local_model_register(path="no-template")
    assert any("chat template" in problem for problem in refused.value.problems)
    with pytest.raises(ApplicationError, match="not inside the models folder"):
        local_model_register(path="../elsewhere")
    local_model_register(path="tiny-llama")
    with pytest.raises(ApplicationError, match="already registered"):
        local_model_register(path="tiny-llama")
    assert Model.objects.filter(local_path="no-template").count() == 0


def test_site_admins_list_and_register_through_the_api_and_the_page(folder, project, people):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = api_as(admin)
    url = reverse("api-models-folder", kwargs={"project_id": project.id})
    listed = {entry["path"]: entry for entry in client.get(url).json()}
    assert listed["tiny-qwen2"]["architecture"] == "Qwen2ForCausalLM" and listed["tiny-qwen2"]["usable"]
    refused = client.post(url, {"path": "no-config"}, format="json")
    assert refused.status_code == 400 and any("config.json" in p for p in refused.json()["problems"])
    created = client.post(url, {"path": "tiny-qwen2", "name": "Tiny Qwen"}, format="json")
    assert created.status_code == 201 and created.json()["local_path"] == "tiny-qwen2"
    registered = {entry["path"]: entry["registered_model"] for entry in client.get(url).json()}
    assert registered == {"tiny-qwen2": created.json()["id"], "tiny-llama": None, "no-template": None,
                          "no-config": None}
    assert Model.objects.get(id=created.json()["id"]).project is None  # shared: every project can use it
    page = login(admin).get(reverse("llm:folder", kwargs={"project_id": project.id})).content.decode()
    assert "Registered as <strong>Tiny Qwen</strong>" in page and "Qwen2ForCausalLM" in page
    assert "LlamaForCausalLM" in page and "no chat template" in page.lower()


@pytest.mark.parametrize("path", list(ARCHITECTURES))
def test_a_registered_model_answers_a_run_fine_tunes_and_exports(path, folder, project, dataset, people,
                                                                  django_capture_on_commit_callbacks):
    model = local_model_register(path=path)
    model.max_tokens = 8
    model.save()
    template = prompt_create(project=project, name="Plain", system="Route the support ticket.")
    version = template.versions.get()
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(project=project, prompt_version=version, model=model, dataset=dataset, concurrency=1)
    run = run_execute(run_id=run.id)
    assert run.status == JobStatus.SUCCEEDED
    outputs = list(run.outputs.all())
    assert len(outputs) == 3 and all(o.status == "ok" and o.answer["label"] in project.labels for o in outputs)

    for n in range(8):
        text = f"Ticket {n}: " + ("my invoice is wrong" if n % 2 else "the app crashes on start")
        training_example_create(project=project, messages=render_messages(project, version, text), text=text,
                                answer={"label": "billing" if n % 2 else "technical"})
    with django_capture_on_commit_callbacks(execute=False):
        job = finetune_launch(project=project, base_model=model, backend="local", user=people["lead"],
                              hyperparameters={"epochs": 1, "batch_size": 2, "gradient_accumulation": 2,
                                               "max_seq_length": 64, "gradient_checkpointing": True,
                                               "lora_targets": "attention-mlp", "load_in_4bit": True})
    job = finetune_train_local(job_id=job.id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.step == job.total_steps == 2  # 8 examples, batches of 2, two batches per step
    assert any("4-bit base needs a CUDA GPU" in event["message"] for event in job.events)
    tuned = job.result_model
    assert tuned.local_path == path and tuned.adapter
    messages = render_messages(project, version, "Ticket 1: my invoice is wrong")
    answer = complete(tuned, messages, schema=schema_for(project, version))
    assert answer.error == "" and json.loads(answer.text)["label"] in project.labels

    for export_format in ("adapter", "merged"):
        with django_capture_on_commit_callbacks(execute=False):
            export = export_create(job=job, export_format=export_format, user=people["lead"])
        export = export_run(export_id=export.id)
        assert export.status == JobStatus.SUCCEEDED, export.error
        assert export.size_bytes > 0


def test_describe_reads_a_gguf_file_without_loading_it(settings):
    from pathlib import Path

    from apps.llm.bundled import weights_location

    folder, name = weights_location()
    settings.TASKLLM_MODELS_DIR = Path(folder)
    info = describe(name)
    assert info.kind == "gguf" and info.architecture == "llama" and info.chat_template and info.usable
    assert 130_000_000 < info.parameters < 140_000_000 and info.context_length == 8192
