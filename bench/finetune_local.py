"""Local LoRA fine-tune of the bundled model: 40 examples x 3 epochs (batch 4, r=16, all linear layers).

    python bench/finetune_local.py            # 40 examples, 3 epochs = 30 steps
    python bench/finetune_local.py --quick    # 8 examples, 1 epoch = 2 steps

Prints wall time, seconds per step and peak RSS of the training process; runs on CUDA when there is one.
"""

import argparse
import time

from _common import peak_rss_mb, setup_django

TEXTS = ["my invoice is wrong", "the app crashes on start", "please pause my account", "I want a manager now"]
LABELS = ["billing", "technical", "account_hold", "escalation"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count, epochs = (8, 1) if args.quick else (40, 3)
    setup_django()
    import torch

    from apps.llm.models import Model
    from apps.projects.models import Project
    from apps.prompts.rendering import render_messages
    from apps.prompts.services import prompt_create
    from apps.review.services import training_example_create
    from apps.tuning.services import finetune_launch, finetune_train_local

    project = Project.objects.create(name=f"finetune bench {time.time():.0f}", task_kind="classification",
                                     labels=LABELS)
    version = prompt_create(project=project, name="p", system="Route the support ticket.").versions.get()
    for n in range(count):
        text = f"Ticket {n}: {TEXTS[n % 4]}"
        training_example_create(project=project, messages=render_messages(project, version, text), text=text,
                                answer={"label": LABELS[n % 4]})
    base = Model.objects.create(name="SmolLM2", provider="local")
    job = finetune_launch(project=project, base_model=base, backend="local",
                          hyperparameters={"epochs": epochs, "batch_size": 4, "lora_r": 16, "lora_alpha": 32})
    started = time.perf_counter()
    job = finetune_train_local(job_id=job.id)
    seconds = time.perf_counter() - started
    assert job.status == "SUCCEEDED", job.error
    losses = [m["loss"] for m in job.metrics if "loss" in m]
    step_times = job.total_steps
    device = "CUDA" if torch.cuda.is_available() else "CPU"
    print(f"{job.example_count} examples x {epochs} epochs = {job.total_steps} steps on the {device}; "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    print(f"wall {seconds:.1f} s (model load included), {seconds / step_times:.2f} s/step overall; "
          f"peak RSS {peak_rss_mb():.0f} MB")
    project.finetune_jobs.all().delete()
    project.delete()
    print(f"finetune_local: {seconds:.0f} s, peak RSS {peak_rss_mb() / 1024:.2f} GB on the {device} "
          "(target <= 90 s and <= 2.5 GB)")


if __name__ == "__main__":
    main()
