"""Exports of the bundled model's fine-tune: time and size of each (LoRA adapter, merged weights, GGUF f16 and
Q8_0; each holds its model card), on this machine.

    python bench/export.py            # fine-tunes 8 examples x 1 epoch first (not timed), then times each export

The last line is the exports' total time.
"""

import time

from _common import setup_django

TEXTS = ["my invoice is wrong", "the app crashes on start", "please pause my account", "I want a manager now"]
LABELS = ["billing", "technical", "account_hold", "escalation"]


def main() -> None:
    setup_django()
    from apps.llm.models import Model
    from apps.projects.models import Project
    from apps.prompts.rendering import render_messages
    from apps.prompts.services import prompt_create
    from apps.review.services import training_example_create
    from apps.tuning.exports import export_create, export_run
    from apps.tuning.services import finetune_launch, finetune_train_local

    project = Project.objects.create(name=f"export bench {time.time():.0f}", task_kind="classification",
                                     labels=LABELS)
    version = prompt_create(project=project, name="p", system="Route the support ticket.").versions.get()
    for n in range(8):
        text = f"Ticket {n}: {TEXTS[n % 4]}"
        training_example_create(project=project, messages=render_messages(project, version, text), text=text,
                                answer={"label": LABELS[n % 4]})
    base = Model.objects.create(name="SmolLM2", provider="local")
    job = finetune_launch(project=project, base_model=base, backend="local", hyperparameters={"epochs": 1})
    job = finetune_train_local(job_id=job.id)
    assert job.status == "SUCCEEDED", job.error
    total = 0.0
    try:
        for export_format in ("adapter", "merged", "gguf_f16", "gguf_q8_0"):
            started = time.perf_counter()
            export = export_run(export_id=export_create(job=job, export_format=export_format).id)
            seconds = time.perf_counter() - started
            assert export.status == "SUCCEEDED", export.error
            total += seconds
            print(f"{export_format}: {seconds:.1f} s, {export.size_bytes / 1e6:.1f} MB (tar.gz)")
    finally:
        job.result_model.delete() if job.result_model else None
        project.delete()
    print(f"export: {total:.1f} s (target 60)")


if __name__ == "__main__":
    main()
