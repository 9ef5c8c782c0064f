"""The row every long job is: one status enum and one abstract model, shared by imports, runs, evals and fine-tunes.

The lifecycle that moves a job through these statuses is `apps/core/jobs.py`; read its docstring for the contract.
"""

from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    # Some of the job's calls failed and some succeeded: its results exist, with the failures counted beside them.
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS", "Completed with errors"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
# A job in one of these produced results that pages, dashboards and baselines use.
COMPLETED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.COMPLETED_WITH_ERRORS)


class Job(models.Model):
    """A long piece of work as a row: the worker updates it, the page polls it.

    `progress` is a percentage (0–100) for jobs that measure it as they go (imports, fine-tunes); jobs that count
    their saved outputs (runs, evals) show those counts instead and set it to 100 when they end.
    """

    status = models.CharField(max_length=24, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times a worker claimed the job.")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done, when the job measures it.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="When the worker holding the job last said it was alive.")
    notices = models.JSONField(default=list, blank=True,
                               help_text="What the job could not do as asked, in words for its page.")

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return not self.is_active

    @property
    def is_completed(self) -> bool:
        """Finished with results (perhaps with some errors counted)."""
        return self.status in COMPLETED_STATUSES
