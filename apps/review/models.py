from django.conf import settings
from django.db import models

from apps.core.limits import COMMENT_MAX, LONG_TEXT_MAX, RECORD_TEXT_MAX
from apps.core.models import Job


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"


class PointStatus(models.TextChoices):
    OPEN = "open", "Open"
    FIXED = "fixed", "Fixed"
    ARCHIVED = "archived", "Archived"


class TrainingPoint(models.Model):
    """A named, recurring failure of the model on this project, e.g. "treats 'hold' in its everyday sense"."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="training_points")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=LONG_TEXT_MAX)
    status = models.CharField(max_length=10, choices=PointStatus.choices, default=PointStatus.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_point_name_per_project")]

    def __str__(self) -> str:
        return self.name


class Grade(models.Model):
    """One reviewer's judgement of one output. A reviewer has at most one grade per output; others keep theirs."""

    output = models.ForeignKey("runs.Output", on_delete=models.CASCADE, related_name="grades")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grades")
    verdict = models.CharField(max_length=4, choices=Verdict.choices)
    corrected_answer = models.JSONField(null=True, blank=True)
    points = models.ManyToManyField(TrainingPoint, blank=True, related_name="grades")
    comment = models.TextField(blank=True, max_length=COMMENT_MAX)
    seconds_spent = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["output", "reviewer"], name="one_grade_per_reviewer")]
        indexes = [models.Index(fields=["reviewer", "created_at"])]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.reviewer_id} on output {self.output_id}"


class Adjudication(models.Model):
    """A lead's final decision on an output the reviewers disagreed on."""

    output = models.OneToOneField("runs.Output", on_delete=models.CASCADE, related_name="adjudication")
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    verdict = models.CharField(max_length=4, choices=Verdict.choices)
    corrected_answer = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True, max_length=COMMENT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)


class TrainingExample(models.Model):
    """The exact messages a model was sent, with the answer it should have given, for fine-tuning."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="training_examples")
    record = models.ForeignKey("datasets.Record", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_grade = models.OneToOneField(Grade, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="training_example")
    messages = models.JSONField(help_text="The messages sent, without the answer.")
    answer = models.JSONField(help_text="The answer in the task's answer format.")
    text = models.TextField(max_length=RECORD_TEXT_MAX, help_text="The record's text.")
    text_hash = models.CharField(max_length=64, help_text="sha256 of the text, case and spaces normalised.")
    points = models.ManyToManyField(TrainingPoint, blank=True, related_name="training_examples")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "text_hash"], name="example_text_idx")]


class TestCase(models.Model):
    """A held-out input with its expected answer, for evaluating a training point. Never trained on."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="test_cases")
    record = models.ForeignKey("datasets.Record", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_grade = models.ForeignKey(Grade, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(max_length=RECORD_TEXT_MAX)
    text_hash = models.CharField(max_length=64, help_text="sha256 of the text, case and spaces normalised.")
    expected = models.JSONField(help_text="The expected answer in the task's answer format.")
    paraphrase_group = models.CharField(max_length=100, blank=True,
                                        help_text="Test cases in one group are variants that must get the same answer.")
    points = models.ManyToManyField(TrainingPoint, blank=True, related_name="test_cases")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    __test__ = False  # not a pytest class

    class Meta:
        ordering = ["paraphrase_group", "id"]
        indexes = [models.Index(fields=["project", "text_hash"], name="testcase_text_idx")]


class TestCaseImport(Job):
    """One uploaded JSONL file of test cases on its way into a project: all of it goes in, or none of it."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="test_case_imports")
    file = models.FileField(upload_to="test-case-imports/%Y/%m/", blank=True)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    cases_imported = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True, help_text="[{'line': n, 'message': '...'}], the first 50")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    __test__ = False  # not a pytest class

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.original_name} → {self.project}"


class ParaphraseRequest(Job):
    """A lead's request that a model propose `count` paraphrases of one test case: one short model call."""

    test_case = models.ForeignKey(TestCase, on_delete=models.CASCADE, related_name="paraphrase_requests")
    model = models.ForeignKey("llm.Model", null=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="The model asked (empty once it was deleted).")
    count = models.PositiveSmallIntegerField(default=3, help_text="How many paraphrases were asked for.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.count} paraphrases of test case {self.test_case_id}"


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class ParaphraseProposal(models.Model):
    """One paraphrase a model proposed; a lead accepts it (a new test case in the original's paraphrase group,
    expecting the same answer) or rejects it. `refusal` says why accepting it was refused (the leakage guard)."""

    request = models.ForeignKey(ParaphraseRequest, on_delete=models.CASCADE, related_name="proposals")
    test_case = models.ForeignKey(TestCase, on_delete=models.CASCADE, related_name="paraphrase_proposals")
    text = models.TextField(max_length=RECORD_TEXT_MAX)
    status = models.CharField(max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED)
    refusal = models.TextField(blank=True, help_text="Why the last try to accept it was refused.")
    accepted_as = models.ForeignKey(TestCase, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    help_text="The test case made of it.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.status}: {self.text[:40]}"
