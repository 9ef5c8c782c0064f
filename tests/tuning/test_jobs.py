"""Launch checks, the API backend's whole state machine at the fake server, cancel, and the pages."""

import json

import pytest
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.core.models import JobStatus
from apps.llm.models import Model
from apps.prompts.rendering import render_messages
from apps.review import services as review_services
from apps.review.models import TrainingExample
from apps.review.services import training_example_create
from apps.tuning.models import FineTuneJob
from apps.tuning.services import finetune_cancel, finetune_launch, finetune_remote_step
from tests.conftest import api_as, login


def add_examples(project, prompt_version, count, start=0):
    for n in range(start, start + count):
        text = f"Ticket {n}: my invoice is wrong"
        training_example_create(project=project, messages=render_messages(project, prompt_version, text),
                                text=text, answer={"label": "billing"})


@pytest.fixture
def api_model(project, llm_server):
    return Model.objects.create(project=project, name="gpt-4o-mini", provider="openai",
                                base_url=llm_server.base_url, model_id="gpt-4o-mini", api_key="sk-x", max_retries=0)


def launch(project, model, backend="openai", **kwargs):
    return finetune_launch(project=project, base_model=model, backend=backend, **kwargs)


def test_the_api_backend_goes_through_its_states_and_registers_the_model(project, prompt_version, api_model,
                                                                          llm_server, people,
                                                                          django_capture_on_commit_callbacks):
    add_examples(project, prompt_version, 12)
    with django_capture_on_commit_callbacks(execute=False):
        job = launch(project, api_model, user=people["lead"], hyperparameters={"validation_share": 0.25})
    assert job.example_count == 9 and job.validation_count == 3
    seen = []
    again = True
    while again:
        job, again = finetune_remote_step(job_id=job.id)
        job.refresh_from_db()
        seen.append(job.status)
    assert seen == ["RUNNING", "QUEUED", "RUNNING", "SUCCEEDED"]
    body = llm_server.jobs["ftjob-1"]["_body"]
    assert body["model"] == "gpt-4o-mini" and body["training_file"] == "file-1" and body["validation_file"] == "file-2"
    assert body["method"]["supervised"]["hyperparameters"]["n_epochs"] == 3
    uploaded = llm_server.files["file-1"]
    assert b'"role": "assistant"' in uploaded and b"fine-tune" in uploaded
    tuned = job.result_model
    assert tuned.model_id == "ft:gpt-4o-mini:taskllm:ftjob-1" and tuned.parent == api_model
    assert tuned.base_url == api_model.base_url
    assert [e["message"] for e in job.events][-1] == "The job has successfully completed"


def test_a_failed_remote_job_ends_failed_with_its_reason(project, prompt_version, api_model, llm_server,
                                                         django_capture_on_commit_callbacks):
    add_examples(project, prompt_version, 10)
    llm_server.fine_tune_outcome = "failed"
    with django_capture_on_commit_callbacks(execute=False):
        job = launch(project, api_model)
    again = True
    while again:
        job, again = finetune_remote_step(job_id=job.id)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "Scripted failure" and job.result_model is None


def test_cancel_tells_the_api(project, prompt_version, api_model, llm_server, django_capture_on_commit_callbacks):
    add_examples(project, prompt_version, 10)
    with django_capture_on_commit_callbacks(execute=False):
        job = launch(project, api_model)
    job, _ = finetune_remote_step(job_id=job.id)
    job.refresh_from_db()
    finetune_cancel(job=job)
    assert job.status == JobStatus.CANCELLED and llm_server.jobs["ftjob-1"]["status"] == "cancelled"
    assert finetune_remote_step(job_id=job.id)[1] is False


@pytest.mark.parametrize("setup, message", [
    ("too_few", "this backend needs at least 10"),
    ("duplicate", "duplicates training example"),
    ("empty_answer", "the assistant's answer is empty"),
    ("wrong_role", "wrong roles"),
    ("leak", "also a held-out test case"),
])
def test_launch_refuses_a_bad_training_file_with_reasons(project, prompt_version, api_model, setup, message):
    add_examples(project, prompt_version, 3 if setup == "too_few" else 10)
    example = TrainingExample.objects.order_by("id").first()
    if setup == "duplicate":
        TrainingExample.objects.create(project=project, messages=example.messages, answer=example.answer,
                                       text="other text", text_hash="y")
    elif setup == "empty_answer":
        TrainingExample.objects.filter(id=example.id).update(answer={})
    elif setup == "wrong_role":
        TrainingExample.objects.filter(id=example.id).update(messages=[{"role": "robot", "content": "hi"}])
    elif setup == "leak":
        TrainingExample.objects.filter(id=example.id).update(text_hash="leaky")
        case = review_services.test_case_create(project=project, text="held out", expected={"label": "billing"})
        type(case).objects.filter(id=case.id).update(text_hash="leaky")
    with pytest.raises(ApplicationError) as refused:
        launch(project, api_model)
    assert any(message in p for p in refused.value.problems), refused.value.problems
    assert FineTuneJob.objects.count() == 0


def test_the_local_trainer_needs_the_bundled_model(project, prompt_version, api_model):
    add_examples(project, prompt_version, 4)
    with pytest.raises(ApplicationError, match="bundled model"):
        launch(project, api_model, backend="local")


def test_launch_page_lists_problems_and_the_job_page_shows_progress(people, project, prompt_version, api_model,
                                                                    django_capture_on_commit_callbacks):
    client = login(people["lead"])
    form = {"base_model": api_model.id, "backend": "openai", "epochs": 3, "learning_rate": "0.0002",
            "batch_size": 4, "lora_r": 16, "lora_alpha": 32, "validation_percent": 0}
    refused = client.post(reverse("tuning:launch", args=[project.id]), form).content.decode()
    assert "Nothing was started" in refused and "needs at least 10" in refused
    add_examples(project, prompt_version, 10)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("tuning:launch", args=[project.id]), form)
    job = FineTuneJob.objects.get()
    assert response.url == reverse("tuning:detail", args=[job.id])
    FineTuneJob.objects.filter(id=job.id).update(step=5, total_steps=10, metrics=[
        {"step": s, "loss": 2.0 / s} for s in range(1, 6)])
    page = client.get(response.url).content.decode()
    assert "step 5 of 10 (50%)" in page and "<polyline" in page and "Froze 10 training" in page
    download = client.get(reverse("tuning:training_file", args=[job.id]))
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert len(lines) == 10 and json.loads(lines[0])["messages"][-1]["role"] == "assistant"


def test_reviewers_cannot_launch(people, project):
    assert login(people["reviewer"]).get(reverse("tuning:launch", args=[project.id])).status_code == 403
    assert api_as(people["reviewer"]).post(reverse("api-finetunes", args=[project.id]), {}).status_code == 403
    assert login(people["outsider"]).get(reverse("tuning:list", args=[project.id])).status_code == 404


def test_a_local_fine_tune_page_shows_its_phase_and_the_time_left(people, project, prompt_version,
                                                                   django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from apps.core.dates import when_text
    from apps.core.jobs import job_claim
    from apps.tuning.services import finetune_phase_set

    add_examples(project, prompt_version, 10)
    bundled = Model.objects.create(name="SmolLM2", provider="local")
    with django_capture_on_commit_callbacks(execute=False):
        job = launch(project, bundled, backend="local")
    client = login(people["reviewer"])
    url = reverse("tuning:detail", args=[job.id])
    assert 'id="job-phase"></span>' in client.get(url).content.decode()  # queued: the status says it all
    assert job_claim(FineTuneJob, job.id)
    job = FineTuneJob.objects.get(id=job.id)
    finetune_phase_set(job=job, phase="loading")
    loading = client.get(url).content.decode()
    assert "Loading the model…" in loading and 'Fine-tune progress: loading the model"></progress>' in loading
    finetune_phase_set(job=job, phase="tokenising")
    assert "Tokenising the examples…" in client.get(url).content.decode()
    finetune_phase_set(job=job, phase="training")
    assert "Training…" in client.get(url).content.decode()
    FineTuneJob.objects.filter(id=job.id).update(step=4, total_steps=10,
                                                 training_started_at=timezone.now() - timedelta(seconds=20))
    training = client.get(url).content.decode()
    assert "Training: step 4 of 10 (40%) · about 30 s left at 5.0 s a step" in training
    assert '<progress max="100" value="40"' in training
    event_times = [e["at"] for e in FineTuneJob.objects.get(id=job.id).events]
    shown = when_text(event_times[0])  # 2026-12-05 07:44: the ISO form only in the datetime attribute
    assert f'<time datetime="{event_times[0]}" title="UTC">{shown}</time>' in training
    assert f">{event_times[0]}<" not in training


def test_the_model_card_counts_the_examples_the_training_file_froze(project, prompt_version, api_model,
                                                                    django_capture_on_commit_callbacks):
    from apps.tuning.model_card import model_card

    point = review_services.point_create(project=project, name="invoices")
    add_examples(project, prompt_version, 10)
    TrainingExample.objects.filter(project=project)[0].points.add(point)
    with django_capture_on_commit_callbacks(execute=False):
        job = launch(project, api_model)
    assert job.point_example_counts == [{"name": "invoices", "examples": 1}]
    for example in TrainingExample.objects.filter(project=project)[1:4]:  # tagged after the file was frozen
        example.points.add(point)
    card = model_card(job, export_format="adapter", serve="")
    assert "“invoices”: 1 examples\n" in card and "counted now" not in card
    FineTuneJob.objects.filter(id=job.id).update(point_example_counts=None)  # a job from before they were kept
    job.refresh_from_db()
    assert "“invoices”: 4 examples (counted now, not when the file was frozen)" in model_card(
        job, export_format="adapter", serve="")
