from django.conf import settings
from django.db import models

from apps.core.models import Job


class Run(Job):
    """A prompt version × a model × records × repeats, executed as a Celery job.

    The records are fixed at launch (`record_ids`), so a run is reproducible even when its
    dataset grows. Outputs are saved as they arrive; a run that stops half-way resumes
    with the (record, repeat) pairs that have no output yet.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="runs")
    prompt_version = models.ForeignKey("prompts.PromptVersion", on_delete=models.RESTRICT, related_name="runs")
    model = models.ForeignKey("llm.Model", on_delete=models.RESTRICT, related_name="runs")
    dataset = models.ForeignKey("datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="runs")
    selection = models.JSONField(default=dict, blank=True, help_text="The filters that chose the records.")
    record_ids = models.JSONField(default=list)
    repeats = models.PositiveSmallIntegerField(default=1)
    concurrency = models.PositiveSmallIntegerField(default=8)
    repair = models.BooleanField(default=True, help_text="Give an invalid answer one repair turn before it counts "
                                 "as invalid (its tokens and time count in the output's).")
    reviews_per_output = models.PositiveSmallIntegerField(
        default=1, help_text="How many reviewers grade each output (2 or more measures agreement).")
    total = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Run {self.id}: {self.prompt_version} × {self.model}"


class OutputStatus(models.TextChoices):
    OK = "ok", "Valid"
    INVALID = "invalid", "Invalid answer"
    ERROR = "error", "Error"


class Output(models.Model):
    """One answer of the model to one record (one repeat of it). Exactly one per (run, record, repeat)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="outputs")
    record = models.ForeignKey("datasets.Record", on_delete=models.CASCADE, related_name="outputs")
    repeat = models.PositiveSmallIntegerField(default=0)
    messages = models.JSONField(default=list)
    raw_text = models.TextField(blank=True)
    answer = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=OutputStatus.choices)
    problems = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    review_count = models.PositiveSmallIntegerField(default=0, help_text="Grades given so far (kept by review).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "record_id", "repeat"]
        constraints = [models.UniqueConstraint(fields=["run", "record", "repeat"], name="one_output_per_record_repeat")]
        indexes = [models.Index(fields=["run", "status"]), models.Index(fields=["run", "review_count", "id"])]

    def __str__(self) -> str:
        return f"Output {self.id} of run {self.run_id}"

    @property
    def reason(self) -> str:
        """Why this answer is not a valid one: the call's error, or the answer's problems (empty when valid)."""
        return self.error or "; ".join(str(p) for p in self.problems or [])

    @property
    def reasoning(self) -> str:
        return (self.answer or {}).get("reasoning", "") if isinstance(self.answer, dict) else ""
