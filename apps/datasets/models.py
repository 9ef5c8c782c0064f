from django.conf import settings
from django.db import models

from apps.core.limits import LONG_TEXT_MAX, RECORD_TEXT_MAX
from apps.core.models import Job


class Split(models.TextChoices):
    NONE = "", "Unassigned"
    TRAIN = "train", "Train"
    TEST = "test", "Test"


class Dataset(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=LONG_TEXT_MAX)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Record(models.Model):
    """One input of the task, with its expected answer when known.

    Classification records keep their expected label in `label`; NER records their
    expected spans in `entities` ([{"start", "end", "type"}], end exclusive).
    """

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="records")
    position = models.PositiveIntegerField(help_text="Order of the record in its dataset.")
    text = models.TextField(max_length=RECORD_TEXT_MAX)
    label = models.CharField(max_length=200, blank=True)
    entities = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    split = models.CharField(max_length=5, choices=Split.choices, blank=True, default=Split.NONE)

    class Meta:
        ordering = ["dataset_id", "position"]
        indexes = [
            models.Index(fields=["dataset", "position"]),
            models.Index(fields=["dataset", "label"]),
            models.Index(fields=["dataset", "split"]),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class ImportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSONL"
    CONLL = "conll", "CoNLL (BIO)"


class DatasetImport(Job):
    """One uploaded file on its way into a dataset: all of it goes in, or none of it."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="imports")
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=10, choices=ImportFormat.choices)
    options = models.JSONField(default=dict, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    records_imported = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True, help_text="[{'line': n, 'message': '...'}], the first 50")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.original_name} → {self.dataset}"
