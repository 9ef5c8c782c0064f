"""Selectors: a judge model checked against people. Where an eval answer has both the judge's verdict and people's
(from review), the two are compared: Cohen's kappa, the judge's true-positive and true-negative rates against
people, and the counts. A judge (a model with one version of the judge prompt) is trusted once it agrees well
enough (the project's `judge_min_kappa`) on enough answers (`judge_min_answers`), pooled over the project's evals.
"""

from dataclasses import dataclass

from django.db.models import Count, Q

from apps.review.agreement import cohen_kappa

from .models import EvalOutput, EvalRun

TRUSTED, UNTRUSTED, UNMEASURED = "trusted", "untrusted", "not measured yet"


@dataclass(frozen=True)
class Agreement:
    """Judge against people on the answers both graded: `both_pass` judge and people pass, `judge_only_pass` the
    judge passed what people failed, `people_only_pass` the reverse, `both_fail` both failed."""

    both_pass: int = 0
    judge_only_pass: int = 0
    people_only_pass: int = 0
    both_fail: int = 0

    @property
    def answers(self) -> int:
        return self.both_pass + self.judge_only_pass + self.people_only_pass + self.both_fail

    @property
    def agreed(self) -> int:
        return self.both_pass + self.both_fail

    @property
    def kappa(self) -> float | None:
        pairs = ([(True, True)] * self.both_pass + [(True, False)] * self.judge_only_pass
                 + [(False, True)] * self.people_only_pass + [(False, False)] * self.both_fail)
        return cohen_kappa(pairs)

    @property
    def true_positive_rate(self) -> float | None:
        """Of the answers people passed, the share the judge passed too."""
        passed = self.both_pass + self.people_only_pass
        return self.both_pass / passed if passed else None

    @property
    def true_negative_rate(self) -> float | None:
        """Of the answers people failed, the share the judge failed too."""
        failed = self.both_fail + self.judge_only_pass
        return self.both_fail / failed if failed else None


@dataclass(frozen=True)
class Trust:
    state: str  # TRUSTED, UNTRUSTED or UNMEASURED
    agreement: Agreement
    min_kappa: float
    min_answers: int

    @property
    def sentence(self) -> str:
        a = self.agreement
        if self.state == UNMEASURED:
            return (f"The judge's agreement with people is measured on {a.answers} of the {self.min_answers} answers "
                    "it needs: send answers to review to measure it.")
        kappa = "undefined" if a.kappa is None else f"{a.kappa:.2f}"
        verdict = "trusted" if self.state == TRUSTED else "not trusted"
        return (f"The judge agrees with people at kappa {kappa} on {a.answers} answers (the project asks for "
                f"{self.min_kappa:.2f}): {verdict}.")


def _counts(outputs) -> Agreement:
    both = outputs.exclude(judge_passed=None).exclude(human_passed=None)
    row = both.aggregate(
        both_pass=Count("id", filter=Q(judge_passed=True, human_passed=True)),
        judge_only_pass=Count("id", filter=Q(judge_passed=True, human_passed=False)),
        people_only_pass=Count("id", filter=Q(judge_passed=False, human_passed=True)),
        both_fail=Count("id", filter=Q(judge_passed=False, human_passed=False)))
    return Agreement(**row)


def eval_agreement(eval_run: EvalRun) -> list[dict]:
    """The judge against people on this eval's answers: overall first, then per training point (points with no
    answer graded by both are left out). Empty for an eval without a judge."""
    if not eval_run.judge_model_id:
        return []
    outputs = EvalOutput.objects.filter(eval_run=eval_run)
    rows = [{"name": "All test cases", "point_id": None, "agreement": _counts(outputs)}]
    chosen = list(eval_run.points.all()) or list(eval_run.project.training_points.all())
    for point in sorted(chosen, key=lambda p: p.name.lower()):
        agreement = _counts(outputs.filter(test_case__points=point))
        if agreement.answers:
            rows.append({"name": point.name, "point_id": point.id, "agreement": agreement})
    return rows


def judge_trust(eval_run: EvalRun) -> Trust | None:
    """Whether the eval's judge (its model with its judge prompt version) is trusted, on every answer of the
    project's evals that both it and people graded. None for an eval without a judge."""
    if not eval_run.judge_model_id:
        return None
    project = eval_run.project
    outputs = EvalOutput.objects.filter(eval_run__project=project, eval_run__judge_model_id=eval_run.judge_model_id,
                                        eval_run__judge_prompt_version_id=eval_run.judge_prompt_version_id)
    agreement = _counts(outputs)
    if agreement.answers < project.judge_min_answers:
        state = UNMEASURED
    elif agreement.kappa is not None and agreement.kappa >= project.judge_min_kappa:
        state = TRUSTED
    else:
        state = UNTRUSTED
    return Trust(state, agreement, project.judge_min_kappa, project.judge_min_answers)


def judge_gate_note(eval_run: EvalRun) -> str:
    """Why the gate cannot pass on this eval's verdicts: an untrusted judge whose verdicts some answers rest on
    alone (no person graded them). Empty when nothing rests on an untrusted judge."""
    trust = judge_trust(eval_run)
    if trust is None or trust.state != UNTRUSTED:
        return ""
    alone = eval_run.outputs.filter(auto_by="judge", human_passed=None).count()
    if not alone:
        return ""
    a = trust.agreement
    kappa = "undefined" if a.kappa is None else f"{a.kappa:.2f}"
    return (f"The judge is not trusted (kappa {kappa} with people on {a.answers} answers, below the project's "
            f"{trust.min_kappa:.2f}) and {alone} verdicts rest on it alone: send those answers to review, or improve "
            "the judge prompt (a new version is measured afresh)")


def judge_versions(project) -> list[dict]:
    """Every judge (model × judge prompt version) the project's evals used, with its trust: for the dashboard."""
    pairs = (EvalRun.objects.filter(project=project).exclude(judge_model=None)
             .values_list("judge_model_id", "judge_prompt_version_id").distinct())
    rows = []
    for model_id, version_id in pairs:
        latest = (EvalRun.objects.filter(project=project, judge_model_id=model_id, judge_prompt_version_id=version_id)
                  .select_related("judge_model", "judge_prompt_version__template").order_by("-id").first())
        trust = judge_trust(latest)
        rows.append({"model": latest.judge_model.name, "version": latest.judge_prompt_version, "trust": trust,
                     "latest_eval": latest})
    return sorted(rows, key=lambda row: (row["model"].lower(), str(row["version"])))
