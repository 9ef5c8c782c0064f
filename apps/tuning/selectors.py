from django.db.models import Count
from django.shortcuts import get_object_or_404

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.core.charts import xy_chart
from apps.core.params import sort_ordering
from apps.llm.pricing import training_cost

from .models import FineTuneJob


def job_for_user(user, job_id, *, role: str = Role.REVIEWER) -> FineTuneJob:
    job = get_object_or_404(FineTuneJob.objects.select_related("project", "base_model", "result_model"), id=job_id)
    check_project_role(user, job.project, role=role)
    return job


# The columns a fine-tune list sorts by, and the fields each one orders.
JOB_SORTS = {"id": ["id"], "base": ["base_model__name"], "backend": ["backend"], "examples": ["example_count"],
             "status": ["status"], "result": ["result_model__name"], "started": ["created_at"]}


def jobs_of(project, *, sort: str = "-started"):
    """The project's fine-tunes in `sort` order (see JOB_SORTS)."""
    return project.finetune_jobs.select_related("base_model", "result_model").order_by(
        *sort_ordering(sort, JOB_SORTS))


def example_counts(project) -> list[dict]:
    """Per training point: how many training examples it holds, for the launch form."""
    return list(project.training_points.annotate(examples=Count("training_examples")).values("id", "name",
                                                                                             "examples"))


def job_cost(job: FineTuneJob) -> dict:
    """An estimate of what training costs: the training file's tokens × epochs at the base model's input price
    (the only price known here; a provider's training price may differ). `total` None without that price."""
    epochs = int(job.hyperparameters.get("epochs") or 1)
    tokens = job.token_estimate * epochs
    return {"tokens": tokens, "epochs": epochs, "total": training_cost(job.base_model, tokens)}


def loss_chart(job: FineTuneJob, *, width: int = 560, height: int = 200) -> dict:
    """Training and validation loss by step, with axes, a legend and each value on hover."""
    train = [(m["step"], m["loss"]) for m in job.metrics if "loss" in m]
    valid = [(m["step"], m["val_loss"]) for m in job.metrics if "val_loss" in m]
    series = {"training loss": train, **({"validation loss": valid} if valid else {})}
    chart = xy_chart(series, x_unit="step", y_unit="loss", x_max=job.total_steps, width=width, height=height)
    if chart:
        chart["last"] = train[-1][1] if train else None
    return chart


def export_for_user(user, export_id, *, role: str = Role.LEAD):
    from .models import ModelExport

    export = get_object_or_404(ModelExport.objects.select_related("finetune_job__project"), id=export_id)
    check_project_role(user, export.finetune_job.project, role=role)
    return export


def exports_of(job: FineTuneJob):
    return job.exports.order_by("-created_at", "-id")
