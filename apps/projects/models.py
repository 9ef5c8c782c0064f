from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.limits import LONG_TEXT_MAX

# Bounds of a project's answer space (form, API and service alike).
MAX_TERMS = 200  # labels or entity types
MAX_TERM_LENGTH = 100


class TaskKind(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    NER = "ner", "Named-entity recognition"
    GENERATION = "generation", "Generation"


class Project(models.Model):
    """A narrow task the organisation wants a model to do well.

    `labels` is the label set of a classification project, `entity_types` the entity
    types of an NER project. `glossary` is a list of {"term", "definition"}: the
    organisation's own meaning of words, which feeds prompts and the review screen.
    """

    name = models.CharField(max_length=200)
    task_kind = models.CharField(max_length=20, choices=TaskKind.choices)
    labels = models.JSONField(default=list, blank=True)
    entity_types = models.JSONField(default=list, blank=True)
    guidelines = models.TextField(blank=True, max_length=LONG_TEXT_MAX)
    glossary = models.JSONField(default=list, blank=True)
    pass_threshold = models.FloatField(
        default=0.9, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="An eval passes its gate only when every training point's pass rate reaches this.")
    f1_threshold = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="NER: a test case passes when its entity F1 reaches this (1.0: every entity exact).")
    judge_rubric = models.TextField(
        blank=True, max_length=LONG_TEXT_MAX,
        help_text="Generation: what the judge model checks when it grades an answer.")
    judge_min_kappa = models.FloatField(
        default=0.6, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="A judge whose agreement with people (Cohen's kappa) is below this is not trusted: the gate "
                  "then does not pass on its verdicts alone.")
    judge_min_answers = models.PositiveIntegerField(
        default=20, validators=[MinValueValidator(1), MaxValueValidator(100000)],
        help_text="Answers graded by both the judge and people before the judge's agreement counts.")
    # Set by the datasets app while the project has datasets: their expected answers are in its task kind, so the
    # kind cannot change under them. This app reads the flag and never asks the apps above who uses the project.
    kind_locked = models.BooleanField(default=False, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def kind(self):
        """The task kind's protocol object (apps/projects/kinds): what differs by kind, for code and templates."""
        from .kinds import kind_for

        return kind_for(self)
