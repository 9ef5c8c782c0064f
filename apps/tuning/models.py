from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.models import Job, JobStatus


class Backend(models.TextChoices):
    LOCAL = "local", "Local LoRA trainer (bundled model)"
    OPENAI = "openai", "OpenAI-compatible fine-tuning API"


class FineTunePhase(models.TextChoices):
    """Where a local fine-tune is, for the page to say more than 0% while the model loads."""

    QUEUED = "queued", "Waiting for a worker"
    LOADING = "loading", "Loading the model"
    TOKENISING = "tokenising", "Tokenising the examples"
    TRAINING = "training", "Training"
    SAVING = "saving", "Saving the adapter"


class FineTuneJob(Job):
    """One fine-tune: a frozen training file (with its content hash), a backend, and the model it produced."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="finetune_jobs")
    base_model = models.ForeignKey("llm.Model", on_delete=models.RESTRICT, related_name="finetune_jobs")
    backend = models.CharField(max_length=10, choices=Backend.choices)
    points = models.ManyToManyField("review.TrainingPoint", blank=True, related_name="finetune_jobs")
    hyperparameters = models.JSONField(default=dict)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=12, choices=FineTunePhase.choices, default=FineTunePhase.QUEUED)
    training_started_at = models.DateTimeField(null=True, blank=True, help_text="When step 1 began, for the ETA.")
    metrics = models.JSONField(default=list, blank=True, help_text="[{'step', 'loss', 'val_loss'}]")
    events = models.JSONField(default=list, blank=True, help_text="[{'at', 'message'}]")
    training_file = models.FileField(upload_to="training-files/")
    validation_file = models.FileField(upload_to="training-files/", blank=True)
    training_file_sha256 = models.CharField(max_length=64)
    example_count = models.PositiveIntegerField(default=0)
    validation_count = models.PositiveIntegerField(default=0)
    point_example_counts = models.JSONField(
        null=True, blank=True, help_text="[{'name', 'examples'}]: each training point's examples when the training "
                                         "file was frozen (empty for jobs from before this was kept).")
    token_estimate = models.PositiveIntegerField(default=0)
    external_file_id = models.CharField(max_length=200, blank=True)
    external_job_id = models.CharField(max_length=200, blank=True)
    result_model = models.ForeignKey("llm.Model", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="produced_by")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Fine-tune {self.id} of {self.base_model}"

    @property
    def percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        return int(100 * self.step / self.total_steps) if self.total_steps else 0

    @property
    def step_seconds(self) -> float | None:
        """The measured time of one training step so far (None before the first step ends)."""
        if self.phase != FineTunePhase.TRAINING or not self.step or self.training_started_at is None:
            return None
        return (timezone.now() - self.training_started_at).total_seconds() / self.step

    @property
    def eta_seconds(self) -> int | None:
        """Seconds left for the remaining steps at the measured pace (None until measured)."""
        if self.step_seconds is None:
            return None
        return round(self.step_seconds * max(0, self.total_steps - self.step))


class ExportFormat(models.TextChoices):
    ADAPTER = "adapter", "LoRA adapter (PEFT)"
    MERGED = "merged", "Merged weights (Hugging Face folder)"
    GGUF_F16 = "gguf_f16", "GGUF f16 (llama.cpp, Ollama)"
    GGUF_Q8_0 = "gguf_q8_0", "GGUF Q8_0 (llama.cpp, Ollama)"


class ModelExport(Job):
    """One download of a local fine-tune: a tar.gz in the storage, with a model card (README.md) inside."""

    finetune_job = models.ForeignKey(FineTuneJob, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=10, choices=ExportFormat.choices)
    archive = models.FileField(upload_to="exports/", blank=True)
    size_bytes = models.BigIntegerField(default=0)
    seconds = models.FloatField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Export {self.id} ({self.format}) of fine-tune {self.finetune_job_id}"
