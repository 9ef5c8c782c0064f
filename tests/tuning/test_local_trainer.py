"""A real fine-tune of the bundled model on the CPU: a few steps on a tiny set."""

import pytest

from apps.core.models import JobStatus
from apps.llm.client import complete
from apps.llm.models import Model
from apps.prompts.rendering import render_messages
from apps.prompts.services import prompt_create
from apps.review.services import training_example_create
from apps.tuning.services import finetune_launch, finetune_train_local, job_folder

pytestmark = pytest.mark.local_model

GENERATE = {"type": "object", "properties": {"answer": {"type": "string"}}}


def test_a_lora_fine_tune_lowers_the_loss_and_changes_the_answers(project, people,
                                                                  django_capture_on_commit_callbacks):
    version = prompt_create(project=project, name="Router", system="Route the ticket.").versions.get()
    for n in range(8):
        text = f"Ticket {n}: " + ("my invoice is wrong" if n % 2 else "the app crashes on start")
        training_example_create(project=project, messages=render_messages(project, version, text), text=text,
                                answer={"label": "billing" if n % 2 else "technical"})
    base = Model.objects.create(name="SmolLM2", provider="local", max_tokens=12)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = finetune_launch(project=project, base_model=base, backend="local", user=people["lead"],
                              hyperparameters={"epochs": 2, "batch_size": 4, "learning_rate": 1e-3})
    assert len(queued) == 1 and job.status == JobStatus.QUEUED and job.example_count == 8
    assert job.training_file.read().count(b'"role": "assistant"') == 8

    job = finetune_train_local(job_id=job.id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    losses = [m["loss"] for m in job.metrics if "loss" in m]
    assert job.step == job.total_steps == 4 and len(losses) == 4
    assert losses[-1] < losses[0]
    tuned = job.result_model
    assert tuned.parent == base and tuned.adapter == job_folder(job, "adapters")

    messages = render_messages(project, version, "Ticket 1: my invoice is wrong")
    before = complete(base, messages, schema=GENERATE)
    after = complete(tuned, messages, schema=GENERATE)
    assert before.error == "" and after.error == ""
    assert after.text != before.text
    assert "billing" in after.text  # it learned the answer of this training input


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_local_training_within_a_step(project, people, django_capture_on_commit_callbacks):
    import threading
    import time

    from apps.tuning.models import FineTuneJob
    from apps.tuning.services import finetune_cancel

    version = prompt_create(project=project, name="Router").versions.get()
    for n in range(8):
        text = f"Ticket {n}: my invoice is wrong"
        training_example_create(project=project, messages=render_messages(project, version, text), text=text,
                                answer={"label": "billing"})
    base = Model.objects.create(name="SmolLM2", provider="local")
    job = finetune_launch(project=project, base_model=base, backend="local",
                          hyperparameters={"epochs": 20, "batch_size": 4})

    def cancel_after_the_first_step():
        from django.db import connection

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not FineTuneJob.objects.filter(id=job.id, step__gte=1).exists():
            time.sleep(0.2)
        finetune_cancel(job=FineTuneJob.objects.get(id=job.id))
        connection.close()

    canceller = threading.Thread(target=cancel_after_the_first_step)
    canceller.start()
    job = finetune_train_local(job_id=job.id)
    canceller.join()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.result_model is None
    assert 1 <= job.step <= 3 and job.total_steps == 40
    assert job.events[-1]["message"].startswith("Stopped at step")
