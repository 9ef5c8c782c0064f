from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.models import Job
from apps.llm.models import TEMPERATURE_RANGE


class EvalRun(Job):
    """A model × a prompt version × the test cases of some training points × repeats, scored automatically.

    The test cases are fixed at launch (`test_case_ids`). Outputs are scored as they are saved; when the
    eval finishes, its results per training point (and overall) are computed in the database and stored,
    so dashboards read a few rows per eval, never its outputs.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="eval_runs")
    model = models.ForeignKey("llm.Model", on_delete=models.RESTRICT, related_name="eval_runs")
    prompt_version = models.ForeignKey("prompts.PromptVersion", on_delete=models.RESTRICT, related_name="eval_runs")
    points = models.ManyToManyField("review.TrainingPoint", blank=True, related_name="eval_runs",
                                    help_text="The training points whose test cases it answers; none means all.")
    test_case_ids = models.JSONField(default=list)
    repeats = models.PositiveSmallIntegerField(default=3)
    temperature = models.FloatField(
        null=True, blank=True,
        validators=[MinValueValidator(TEMPERATURE_RANGE[0]), MaxValueValidator(TEMPERATURE_RANGE[1])],
        help_text="The sampling temperature of the answers (every repeat); empty: the model's own.")
    concurrency = models.PositiveSmallIntegerField(default=8)
    repair = models.BooleanField(default=True, help_text="Give an invalid answer one repair turn before it counts "
                                 "as invalid (its tokens and time count in the output's).")
    judge_model = models.ForeignKey("llm.Model", null=True, blank=True, on_delete=models.RESTRICT, related_name="+",
                                    help_text="The model that grades each answer (generation: the only automatic "
                                              "verdict; classification and NER: beside the rule's, to compare).")
    judge_prompt_version = models.ForeignKey("prompts.PromptVersion", null=True, blank=True,
                                             on_delete=models.RESTRICT, related_name="+",
                                             help_text="The judge's prompt (a versioned prompt of purpose judge).")
    review_run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   help_text="The run its answers sent to review are outputs of.")
    baseline = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="The eval run each training point is compared with.")
    note = models.CharField(max_length=200, blank=True)
    total = models.PositiveIntegerField(default=0)
    gate_passed = models.BooleanField(null=True, blank=True)
    gate_note = models.CharField(max_length=500, blank=True,
                                 help_text="Why the gate failed beyond the points: an untrusted judge.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "status", "finished_at"])]

    def __str__(self) -> str:
        return f"Eval {self.id}: {self.model} × {self.prompt_version}"

    @property
    def version_label(self) -> str:
        return f"{self.model.name} · {self.prompt_version}"

    @property
    def answer_temperature(self) -> float:
        """The temperature its answers were asked at: its own, else its model's."""
        return self.model.temperature if self.temperature is None else self.temperature


class EvalOutput(models.Model):
    """One answer to one test case (one repeat of it), with its score. Exactly one per (eval run, case, repeat)."""

    eval_run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="outputs")
    test_case = models.ForeignKey("review.TestCase", on_delete=models.CASCADE, related_name="eval_outputs")
    repeat = models.PositiveSmallIntegerField(default=0)
    raw_text = models.TextField(blank=True)
    answer = models.JSONField(null=True, blank=True)
    answer_key = models.CharField(max_length=32, blank=True,
                                  help_text="A digest of the answer without its reasoning, for consistency.")
    status = models.CharField(max_length=8)
    problems = models.JSONField(default=list, blank=True, help_text="Why an invalid answer is invalid.")
    error = models.TextField(blank=True)
    passed = models.BooleanField(null=True, help_text="The answer's verdict: people's where they graded it, else "
                                 "the automatic one. Empty until scored (a judge model scores after answering).")
    auto_passed = models.BooleanField(null=True, help_text="The automatic verdict: the rule's (label, F1), or the "
                                      "judge's where the task kind has no rule.")
    auto_by = models.CharField(max_length=5, blank=True, help_text="Whose the automatic verdict is: rule or judge.")
    judge_passed = models.BooleanField(null=True, help_text="The judge model's verdict, when it was asked.")
    human_passed = models.BooleanField(null=True, help_text="People's verdict from review (a lead's adjudication, "
                                       "else the reviewers' majority), when they graded it.")
    review_output = models.OneToOneField("runs.Output", null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="+", help_text="The output it was sent to review as.")
    score = models.FloatField(null=True, blank=True, help_text="1/0 for a label, F1 for entities.")
    true_positives = models.PositiveSmallIntegerField(null=True, blank=True)
    false_positives = models.PositiveSmallIntegerField(null=True, blank=True)
    false_negatives = models.PositiveSmallIntegerField(null=True, blank=True)
    judge_reason = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["eval_run_id", "test_case_id", "repeat"]
        constraints = [models.UniqueConstraint(fields=["eval_run", "test_case", "repeat"],
                                               name="one_eval_output_per_case_repeat")]

    @property
    def reason(self) -> str:
        """Why this answer is not a valid one: the call's error, or the answer's problems (empty when valid)."""
        return self.error or "; ".join(str(p) for p in self.problems or [])

    @property
    def verdict_source(self) -> str:
        """Whose verdict `passed` is: "human", "judge", "rule", or "" while unscored."""
        return "human" if self.human_passed is not None else self.auto_by


class PointResult(models.Model):
    """An eval run's results for one training point (`point` empty: all its test cases), stored when it finishes."""

    eval_run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    point = models.ForeignKey("review.TrainingPoint", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="eval_results")
    test_cases = models.PositiveIntegerField(default=0)
    test_cases_passed = models.PositiveIntegerField(default=0, help_text="Cases most of whose repeats passed.")
    outputs = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    pass_rate = models.FloatField(default=0)
    ci_low = models.FloatField(default=0)
    ci_high = models.FloatField(default=0)
    consistency = models.FloatField(default=1)
    pass_all = models.FloatField(null=True, blank=True,
                                 help_text="pass^k: the share of test cases all of whose repeats passed.")
    paraphrase_agreement = models.FloatField(null=True, blank=True)
    latency_p50_ms = models.FloatField(default=0)
    latency_p95_ms = models.FloatField(default=0)
    mean_input_tokens = models.FloatField(default=0)
    mean_output_tokens = models.FloatField(default=0)
    f1_micro = models.FloatField(null=True, blank=True)
    f1_macro = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=10, blank=True, help_text="Against the baseline: improved / unchanged / "
                               "regressed; empty without a baseline.")
    p_value = models.FloatField(null=True, blank=True)
    confirmable_rise = models.FloatField(null=True, blank=True, help_text="The smallest rise of the test-case pass "
                                         "rate over the baseline's that this many test cases could confirm.")
    confirmable_fall = models.FloatField(null=True, blank=True, help_text="The smallest fall that this many test "
                                         "cases could confirm.")
    cases_to_confirm = models.PositiveIntegerField(null=True, blank=True, help_text="Test cases needed to confirm "
                                                   "the change seen, were the pass rates to hold.")

    class Meta:
        ordering = ["eval_run_id", "point_id"]
        constraints = [models.UniqueConstraint(fields=["eval_run", "point"], name="one_result_per_point"),
                       models.UniqueConstraint(fields=["eval_run"], condition=models.Q(point=None),
                                               name="one_overall_result")]
