import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.limits import COMMENT_MAX

SHARE = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class Deployment(models.Model):
    """A project's named endpoint (`slug`) pointing at a model and a prompt version.

    What it points at changes only through a promotion (or a rollback to an earlier one), so the
    history of promotions is the history of the endpoint. An optional shadow candidate answers a
    share of calls as well; its answers are stored on the traces, never returned.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="deployments")
    slug = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=300, blank=True)
    model = models.ForeignKey("llm.Model", null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    prompt_version = models.ForeignKey("prompts.PromptVersion", null=True, blank=True, on_delete=models.RESTRICT,
                                       related_name="+")
    current_promotion = models.ForeignKey("Promotion", null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+")
    shadow_model = models.ForeignKey("llm.Model", null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    shadow_prompt_version = models.ForeignKey("prompts.PromptVersion", null=True, blank=True,
                                              on_delete=models.RESTRICT, related_name="+")
    shadow_share = models.FloatField(default=0.0, validators=SHARE, help_text="Share of calls also sent to the shadow.")
    sample_share = models.FloatField(default=0.05, validators=SHARE,
                                     help_text="Share of all calls sampled into review at random.")
    sample_negative_feedback = models.BooleanField(default=True, help_text="Sample calls with thumbs down or a "
                                                   "user's correction.")
    sample_invalid = models.BooleanField(default=True, help_text="Sample every invalid answer.")
    sample_shadow_disagreement = models.BooleanField(default=True, help_text="Sample calls where the shadow "
                                                     "answered differently.")
    sample_low_confidence = models.FloatField(default=0.0, validators=SHARE,
                                              help_text="Sample answers whose confidence is below this (0: off).")
    traffic_dataset = models.ForeignKey("datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_live(self) -> bool:
        return self.model_id is not None and self.prompt_version_id is not None


class Promotion(models.Model):
    """One change of what a deployment points at: who, when, why, and the eval that justified it."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="promotions")
    model = models.ForeignKey("llm.Model", on_delete=models.RESTRICT, related_name="+")
    prompt_version = models.ForeignKey("prompts.PromptVersion", on_delete=models.RESTRICT, related_name="+")
    eval_run = models.ForeignKey("evals.EvalRun", null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    reason = models.TextField(max_length=COMMENT_MAX, help_text="Why this version is promoted.")
    override_reason = models.TextField(blank=True, max_length=COMMENT_MAX,
                                       help_text="An admin's reason for promoting without a passed gate.")
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                    help_text="The earlier promotion this one restores.")
    promoted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Promotion {self.id} of {self.deployment}"


class DeploymentKey(models.Model):
    """A key an application calls one deployment with. Only its sha256 is stored; the key is shown once."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True,
                                                        help_text="Empty: the site's default.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class TraceStatus(models.TextChoices):
    OK = "ok", "Valid"
    INVALID = "invalid", "Invalid answer"
    ERROR = "error", "Error"
    DISCONNECTED = "disconnected", "Client disconnected"  # a streamed call its caller left before the end


class Trace(models.Model):
    """One call of a deployment, written in batches after the answer went out (see trace_buffer.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="traces")
    endpoint = models.CharField(max_length=10, help_text="predict or chat")
    model = models.ForeignKey("llm.Model", null=True, on_delete=models.SET_NULL, related_name="+")
    prompt_version = models.ForeignKey("prompts.PromptVersion", null=True, on_delete=models.SET_NULL,
                                       related_name="+")
    text = models.TextField(blank=True, help_text="The input text (the last user message for chat calls).")
    messages = models.JSONField(default=list, help_text="The exact messages sent to the model.")
    answer = models.JSONField(null=True, blank=True)
    raw_text = models.TextField(blank=True)
    valid = models.BooleanField(default=False)
    problems = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=TraceStatus.choices)
    error = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    confidence = models.FloatField(null=True, blank=True)
    categories = models.JSONField(default=list, blank=True, help_text="The answer's labels or entity types.")
    shadow_model = models.ForeignKey("llm.Model", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    shadow_answer = models.JSONField(null=True, blank=True)
    shadow_agrees = models.BooleanField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True, help_text="What the caller sent along.")
    key = models.ForeignKey(DeploymentKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sampled_reason = models.CharField(max_length=40, blank=True)
    review_output_id = models.BigIntegerField(null=True, blank=True,
                                              help_text="The traffic run's output this trace became.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["deployment", "created_at"]),
                   models.Index(fields=["deployment", "status", "created_at"])]


class Thumbs(models.TextChoices):
    UP = "up", "Thumbs up"
    DOWN = "down", "Thumbs down"


class Feedback(models.Model):
    """An end user's verdict on one trace, sent by the application with its deployment key."""

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="feedback")
    thumbs = models.CharField(max_length=4, choices=Thumbs.choices, blank=True)
    correct_answer = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True, max_length=COMMENT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class TraceWriteFailure(models.Model):
    """How many traces a web process could not write (its buffer overflowed, or it stopped with traces unwritten).

    Kept in the database as a count per process and day, so the deployment page says so rather than
    losing them silently; written when the database is reachable again.
    """

    deployment = models.ForeignKey(Deployment, null=True, on_delete=models.CASCADE, related_name="+")
    count = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)


# --- watching: scheduled evals, alerts, webhooks (schedules.py, alerts.py, webhooks.py) ----------------------------

class Every(models.TextChoices):
    HOURLY = "hourly", "Every hour"
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every week"
    CRON = "cron", "Cron expression"


class EvalSchedule(models.Model):
    """When to evaluate what a deployment serves; `next_run_at` is claimed atomically by the beat task."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="schedules")
    every = models.CharField(max_length=8, choices=Every.choices, default=Every.DAILY)
    cron = models.CharField(max_length=100, blank=True, help_text="Five fields, UTC: minute hour day month weekday.")
    points = models.ManyToManyField("review.TrainingPoint", blank=True, related_name="+",
                                    help_text="Empty: all the project's test cases.")
    repeats = models.PositiveSmallIntegerField(default=1)
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["deployment_id", "id"]


class ScheduledEval(models.Model):
    """One eval a schedule launched, and what it showed against the last promotion's eval once it finished."""

    schedule = models.ForeignKey(EvalSchedule, null=True, on_delete=models.SET_NULL, related_name="evals")
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="scheduled_evals")
    eval_run = models.OneToOneField("evals.EvalRun", on_delete=models.CASCADE, related_name="+")
    checked_at = models.DateTimeField(null=True, blank=True)
    regressed = models.BooleanField(null=True)
    below_threshold = models.BooleanField(null=True)
    moved = models.JSONField(default=list, blank=True, help_text="Points whose verdict is not 'unchanged'.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class AlertEvent(models.TextChoices):
    EVAL_REGRESSED = "eval.regressed", "A scheduled eval regressed"
    EVAL_BELOW_THRESHOLD = "eval.below_threshold", "A scheduled eval fell below the threshold"
    DRIFT = "traffic.drift", "Drift figure over its threshold"
    ERROR_RATE = "traffic.error_rate", "Error rate above a level"
    THUMBS_DOWN = "traffic.thumbs_down", "Thumbs-down share above a level"
    EVAL_FINISHED = "eval.finished", "An eval finished"
    EVAL_FAILED = "eval.failed", "An eval failed"
    FINETUNE_FINISHED = "finetune.finished", "A fine-tune finished"
    FINETUNE_FAILED = "finetune.failed", "A fine-tune failed"


class AlertRule(models.Model):
    """What to watch in a project and whom to tell: the project's webhooks subscribed to the event, and emails."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="alert_rules")
    event = models.CharField(max_length=24, choices=AlertEvent.choices)
    deployment = models.ForeignKey(Deployment, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                   help_text="Empty: every deployment of the project.")
    level = models.FloatField(null=True, blank=True, help_text="Error rate or thumbs-down share (0–1) that alerts.")
    window_minutes = models.PositiveIntegerField(default=60)
    emails = models.TextField(blank=True, help_text="Addresses, comma-separated.")
    webhooks = models.BooleanField(default=True, help_text="Send to the project's webhooks subscribed to the event.")
    enabled = models.BooleanField(default=True)
    checked_until = models.DateTimeField(null=True, blank=True, help_text="Jobs finished before this were seen.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "id"]

    def __str__(self) -> str:
        return self.get_event_display()


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(AlertRule, null=True, on_delete=models.SET_NULL, related_name="alerts")
    event = models.CharField(max_length=24, choices=AlertEvent.choices)
    deployment = models.ForeignKey(Deployment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    what = models.CharField(max_length=300)
    link = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=120, help_text="One open alert per rule and key.")
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule", "key"], condition=~models.Q(status="resolved"),
                                               name="one_unresolved_alert_per_rule_key")]


class Webhook(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, blank=True, help_text="Alert events sent; empty: all.")
    secret = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    body = models.TextField(help_text="The exact JSON sent (signed as it is).")
    status = models.CharField(max_length=10, default="pending", help_text="pending, delivered or failed.")
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
