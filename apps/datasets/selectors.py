from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.core.models import JobStatus
from apps.core.params import choice_param, sort_ordering
from apps.projects.models import Project

from .models import Dataset, DatasetImport, Record


def dataset_for_user(user, dataset_id, *, role: str = Role.REVIEWER) -> Dataset:
    """The dataset if `user` holds `role` in its project: 404 for outsiders, 403 for too low a role."""
    dataset = get_object_or_404(Dataset.objects.select_related("project"), id=dataset_id)
    check_project_role(user, dataset.project, role=role)
    return dataset


def import_for_user(user, import_id, *, role: str = Role.REVIEWER) -> DatasetImport:
    dataset_import = get_object_or_404(DatasetImport.objects.select_related("dataset__project"), id=import_id)
    check_project_role(user, dataset_import.dataset.project, role=role)
    return dataset_import


def datasets_of(project: Project) -> QuerySet[Dataset]:
    return project.datasets.annotate(
        record_count=Count("records"),
        train_count=Count("records", filter=Q(records__split="train")),
        test_count=Count("records", filter=Q(records__split="test")),
    ).order_by("-created_at", "-id")


def record_filters(params) -> dict:
    """Filters from query parameters: q, label, split (train, test, none for unassigned, empty for any)."""
    split = choice_param(params, "split", ("train", "test", "none", ""), default="") or None
    return {"q": params.get("q", "").strip(), "label": params.get("label", ""),
            "split": "" if split == "none" else split}


# The columns a record list sorts by, and the fields each one orders.
RECORD_SORTS = {"position": ["position"], "text": ["text"], "split": ["split"]}


def records_filtered(dataset: Dataset, *, q: str = "", label: str = "", split: str | None = None,
                     sort: str = "position") -> QuerySet[Record]:
    records = dataset.records.order_by(*sort_ordering(sort, RECORD_SORTS))
    if q:
        records = records.filter(text__icontains=q)
    if label:
        records = records.filter(label=label)
    if split is not None:
        records = records.filter(split=split)
    return records


def label_counts(dataset: Dataset) -> list[dict]:
    return list(dataset.records.values("label").annotate(n=Count("id")).order_by("-n", "label"))


def import_heartbeat(dataset_import: DatasetImport) -> int | None:
    """Percent of the file the running import has read, or None until its worker first reported."""
    progress = DatasetImport.objects.filter(id=dataset_import.id, status=JobStatus.RUNNING).values_list(
        "progress", flat=True).first()
    return progress or None

