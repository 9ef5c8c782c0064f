"""Checkpoints of a local fine-tune: resuming one gives the adapter an uninterrupted training gives, and a worker
killed with -9 mid-training leaves a job the next worker finishes from its last checkpoint."""

import json
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.core.models import JobStatus
from apps.llm.models import Model
from apps.prompts.rendering import render_messages
from apps.prompts.services import prompt_create
from apps.review.services import training_example_create
from apps.tuning.backends import local
from apps.tuning.models import FineTuneJob
from apps.tuning.services import checkpoint_step, finetune_launch, job_folder
from tests.support.tiny_models import make_models_folder
from tests.support.worker import wait_for

TRAINING = [{"messages": [{"role": "system", "content": "Route the ticket."},
                          {"role": "user", "content": f"Ticket {n}: " + ("invoice" if n % 2 else "crash")},
                          {"role": "assistant", "content": json.dumps({"label": "billing" if n % 2 else "technical"})}]}
            for n in range(6)]


def _adapter(folder: str) -> dict:
    from safetensors.torch import load_file

    return load_file(f"{folder}/adapter_model.safetensors")


@pytest.mark.local_model
def test_a_training_resumed_from_a_checkpoint_ends_with_the_adapter_of_an_uninterrupted_one(settings, tmp_path):
    import torch

    make_models_folder(tmp_path)
    settings.TASKLLM_MODELS_DIR = tmp_path
    base = Model(name="Tiny", provider="local", local_path="tiny-llama")
    hp = local.Hyperparameters(epochs=2, batch_size=2, learning_rate=1e-3)  # 3 steps an epoch, 6 in all
    checkpoints, losses = {}, []

    def train(**options):
        return local.train(training=TRAINING, validation=[], hp=hp, base=base, on_validation=lambda *a: None,
                           should_stop=lambda: False, **options)

    whole = train(on_step=lambda step, total, loss: losses.append((step, loss)), checkpoint_every=2,
                  on_checkpoint=lambda folder, step: checkpoints.setdefault(step, folder))
    assert sorted(checkpoints) == [2, 3, 4]  # every 2 steps, and at the end of the first epoch
    resumed_losses = []
    resumed = train(on_step=lambda step, total, loss: resumed_losses.append((step, loss)),
                    resume_from=checkpoints[4])
    assert [step for step, _ in resumed_losses] == [5, 6]
    assert [loss for _, loss in resumed_losses] == pytest.approx([loss for _, loss in losses[4:]], rel=1e-4)
    expected, got = _adapter(whole), _adapter(resumed)
    assert expected.keys() == got.keys()
    assert all(torch.allclose(expected[name], got[name], atol=1e-5) for name in expected)


def test_a_stale_local_finetune_with_a_complete_checkpoint_is_queued_again_not_failed(
        project, django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile

    from apps.core import jobs

    base = Model.objects.create(name="SmolLM2", provider="local")
    stale = timezone.now() - timedelta(hours=1)
    job = FineTuneJob.objects.create(project=project, base_model=base, backend="local", training_file_sha256="x",
                                     status=JobStatus.RUNNING, heartbeat_at=stale)
    default_storage.save(f"{job_folder(job, 'checkpoints')}/step-3/trainer_state.json", ContentFile(b'{"step": 3}'))
    default_storage.save(f"{job_folder(job, 'checkpoints')}/step-5/adapter_model.safetensors", ContentFile(b"half"))
    assert checkpoint_step(job) == 3  # step 5 has no trainer_state.json: its worker died saving it
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert jobs.jobs_recover() == {"requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and len(queued) == 1


@pytest.mark.worker
@pytest.mark.local_model
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_training_leaves_a_job_the_next_worker_resumes(project, people, workers):
    version = prompt_create(project=project, name="Router", system="Route the ticket.").versions.get()
    for n in range(8):
        text = f"Ticket {n}: " + ("my invoice is wrong" if n % 2 else "the app crashes on start")
        training_example_create(project=project, messages=render_messages(project, version, text), text=text,
                                answer={"label": "billing" if n % 2 else "technical"})
    base = Model.objects.create(name="SmolLM2", provider="local", max_tokens=12)
    every_two_steps = {"TASKLLM_FINETUNE_CHECKPOINT_STEPS": "2"}
    first = workers.start(env=every_two_steps)
    job = finetune_launch(project=project, base_model=base, backend="local", user=people["lead"],
                          hyperparameters={"epochs": 3, "batch_size": 1})  # 24 steps
    wait_for(lambda: (checkpoint_step(job) or 0) >= 4, timeout=400, what="the second checkpoint",
             log=first.log_path)
    workers.kill_hard(first)
    killed_at = FineTuneJob.objects.get(id=job.id).step
    assert killed_at < 24, "the training finished before the kill"
    # Time passes: the dead worker's heartbeat goes stale (a fine-tune gets two minutes), and nothing else changes.
    FineTuneJob.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    second = workers.start(env=every_two_steps)
    wait_for(lambda: FineTuneJob.objects.get(id=job.id).status == JobStatus.SUCCEEDED, timeout=400,
             what="the training to finish on the next worker", log=second.log_path)
    job.refresh_from_db()
    assert job.attempts == 2 and job.step == job.total_steps == 24 and job.result_model is not None
    assert [m["step"] for m in job.metrics if "loss" in m] == list(range(1, 25))  # each step once
    resumed = [e["message"] for e in job.events if e["message"].startswith("Resumed from the checkpoint")]
    assert len(resumed) == 1 and int(resumed[0].rsplit(" ", 1)[1].rstrip(".")) >= 4
    root = job_folder(job, "checkpoints")
    assert checkpoint_step(job) is None  # the checkpoints' files are gone (a file storage may keep empty folders)
    assert not any(default_storage.listdir(f"{root}/{name}")[1] for name in default_storage.listdir(root)[0])


def test_a_job_with_the_id_of_an_older_one_gets_folders_of_its_own():
    """A database made again while the storage is kept gives ids again; an old job's checkpoint or adapter (and the
    local model cache, which knows an adapter by its name) must never be taken for the new job's."""
    from datetime import UTC, datetime

    older = FineTuneJob(id=1, created_at=datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    newer = FineTuneJob(id=1, created_at=datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    for kind in ("checkpoints", "adapters"):
        assert job_folder(older, kind) != job_folder(newer, kind)
        assert job_folder(newer, kind).startswith(f"{kind}/job-1-")
