from django.conf import settings
from django.db import models

from apps.core.limits import LONG_TEXT_MAX


class PromptStyle(models.TextChoices):
    PLAIN = "plain", "Plain"
    CHAIN_OF_THOUGHT = "cot", "Chain of thought"
    DEFINITIONS = "definitions", "With the glossary's definitions"
    FEW_SHOT = "few_shot", "Few-shot examples"


class PromptPurpose(models.TextChoices):
    TASK = "task", "The task"
    JUDGE = "judge", "A judge model's grading"


class PromptTemplate(models.Model):
    """A prompt: for the task itself, or (`purpose` judge) for a judge model grading answers against a rubric,
    its user message holding {text}, {expected} and {answer}."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="prompt_templates")
    name = models.CharField(max_length=200)
    purpose = models.CharField(max_length=8, choices=PromptPurpose.choices, default=PromptPurpose.TASK)
    description = models.TextField(blank=True, max_length=LONG_TEXT_MAX)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_prompt_name_per_project")]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """One immutable version of a prompt: editing a prompt makes a new version, so every run is reproducible.

    `user_template` and `system` may use {text}, {labels}, {entity_types}, {glossary} and
    {examples}. `examples` is frozen at creation: [{"text": ..., "answer": {...}}].
    """

    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    style = models.CharField(max_length=12, choices=PromptStyle.choices, default=PromptStyle.PLAIN)
    system = models.TextField(blank=True, max_length=LONG_TEXT_MAX)
    user_template = models.TextField(default="{text}", max_length=LONG_TEXT_MAX)
    examples = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=300, blank=True, help_text="What changed in this version.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template_id", "-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="unique_prompt_version_number")]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.number}"

    @property
    def wants_reasoning(self) -> bool:
        return self.style == PromptStyle.CHAIN_OF_THOUGHT
