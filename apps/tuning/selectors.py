from django.db.models import Count
from django.shortcuts import get_object_or_404

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role

from .models import FineTuneJob


def job_for_user(user, job_id, *, role: str = Role.REVIEWER) -> FineTuneJob:
    job = get_object_or_404(FineTuneJob.objects.select_related("project", "base_model", "result_model"), id=job_id)
    check_project_role(user, job.project, role=role)
    return job


def jobs_of(project):
    return project.finetune_jobs.select_related("base_model", "result_model").order_by("-created_at")


def example_counts(project) -> list[dict]:
    """Per training point: how many training examples it holds, for the launch form."""
    return list(project.training_points.annotate(examples=Count("training_examples")).values("id", "name",
                                                                                             "examples"))


def loss_chart(job: FineTuneJob, *, width: int = 560, height: int = 160) -> dict:
    """SVG polylines of training and validation loss (drawn on the server: no chart library, works offline)."""
    train = [(m["step"], m["loss"]) for m in job.metrics if "loss" in m]
    valid = [(m["step"], m["val_loss"]) for m in job.metrics if "val_loss" in m]
    values = [v for _, v in train + valid]
    if not values:
        return {}
    top = max(values) or 1.0
    first_step = min(s for s, _ in train + valid)
    span = max(max(job.total_steps, max(s for s, _ in train + valid)) - first_step, 1)

    def points(series):
        return " ".join(f"{8 + (width - 16) * (s - first_step) / span:.1f},{height - 8 - (height - 16) * v / top:.1f}"
                        for s, v in series)

    return {"width": width, "height": height, "train": points(train), "valid": points(valid), "top": top,
            "last": train[-1][1] if train else None}


def export_for_user(user, export_id, *, role: str = Role.LEAD):
    from .models import ModelExport

    export = get_object_or_404(ModelExport.objects.select_related("finetune_job__project"), id=export_id)
    check_project_role(user, export.finetune_job.project, role=role)
    return export


def exports_of(job: FineTuneJob):
    return job.exports.order_by("-created_at", "-id")
