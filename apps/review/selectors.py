"""Reads of the review loop: the queue, training points, agreement and reviewer activity."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.core.db import Percentile, has_percentile, percentile_of_sorted
from apps.core.params import sort_ordering
from apps.runs.models import Output, OutputStatus, Run

from .agreement import agreement_figures
from .models import (
    Grade,
    ParaphraseProposal,
    ParaphraseRequest,
    TestCase,
    TestCaseImport,
    TrainingExample,
    TrainingPoint,
    Verdict,
)

SHOW_CHOICES = [("ungraded", "Not graded by me"), ("all", "All outputs"), ("failed", "Failed"),
                ("invalid", "Invalid answers or errors")]


# --- access ------------------------------------------------------------------------------

def point_for_user(user, point_id, *, role: str = Role.REVIEWER) -> TrainingPoint:
    point = get_object_or_404(TrainingPoint.objects.select_related("project"), id=point_id)
    check_project_role(user, point.project, role=role)
    return point


def example_for_user(user, example_id, *, role: str = Role.LEAD) -> TrainingExample:
    example = get_object_or_404(TrainingExample.objects.select_related("project"), id=example_id)
    check_project_role(user, example.project, role=role)
    return example


def test_case_for_user(user, case_id, *, role: str = Role.LEAD) -> TestCase:
    case = get_object_or_404(TestCase.objects.select_related("project"), id=case_id)
    check_project_role(user, case.project, role=role)
    return case


def test_case_import_for_user(user, import_id, *, role: str = Role.LEAD) -> TestCaseImport:
    """A test-case import, for the leads who may start one (the same rule as the upload)."""
    case_import = get_object_or_404(TestCaseImport.objects.select_related("project", "created_by"), id=import_id)
    check_project_role(user, case_import.project, role=role)
    return case_import


def paraphrase_request_for_user(user, request_id, *, role: str = Role.REVIEWER) -> ParaphraseRequest:
    request = get_object_or_404(ParaphraseRequest.objects.select_related("test_case__project", "model", "created_by"),
                                id=request_id)
    check_project_role(user, request.test_case.project, role=role)
    return request


def proposal_for_user(user, proposal_id, *, role: str = Role.LEAD) -> ParaphraseProposal:
    proposal = get_object_or_404(ParaphraseProposal.objects.select_related("test_case__project"), id=proposal_id)
    check_project_role(user, proposal.test_case.project, role=role)
    return proposal


def output_in_run(run: Run, output_id) -> Output:
    return get_object_or_404(Output.objects.select_related("record", "run__project", "run__prompt_version__template",
                                                           "run__model"), id=output_id, run=run)


def output_in_project(project, output_id) -> Output:
    return get_object_or_404(Output.objects.select_related("record", "run"), id=output_id, run__project=project)


# --- paraphrase proposals --------------------------------------------------------------------

def paraphrase_requests_of(case: TestCase) -> QuerySet[ParaphraseRequest]:
    """The requests for paraphrases of a test case, newest first."""
    return case.paraphrase_requests.select_related("model", "created_by").order_by("-created_at", "-id")


def paraphrase_group_of(case: TestCase) -> QuerySet[TestCase]:
    """The other test cases in the case's paraphrase group (none when it has no group)."""
    if not case.paraphrase_group:
        return TestCase.objects.none()
    return TestCase.objects.filter(project_id=case.project_id, paraphrase_group=case.paraphrase_group).exclude(
        id=case.id).order_by("id")


def proposals_of(case: TestCase) -> QuerySet[ParaphraseProposal]:
    """The proposals for a test case, the newest request's first, each request's in the model's order."""
    return case.paraphrase_proposals.select_related("request__model", "accepted_as", "decided_by").order_by(
        "-request_id", "id")


# --- the queue ---------------------------------------------------------------------------

def review_outputs(run: Run, reviewer, *, show: str = "ungraded", label: str = "", point_id=None,
                   graded_by=None) -> QuerySet[Output]:
    """The outputs a reviewer steps through with j/k, in a stable order."""
    outputs = run.outputs.all()
    if show == "ungraded":
        # Least-reviewed first: the (run, review_count, id) index serves this order directly, at any run size.
        mine = Grade.objects.filter(output=OuterRef("pk"), reviewer=reviewer)
        outputs = outputs.filter(review_count__lt=run.reviews_per_output).exclude(Exists(mine))
        return outputs.order_by("review_count", "id")
    elif show == "failed":
        outputs = outputs.filter(Exists(Grade.objects.filter(output=OuterRef("pk"), verdict=Verdict.FAIL)))
    elif show == "invalid":
        outputs = outputs.filter(status__in=[OutputStatus.INVALID, OutputStatus.ERROR])
    if label:
        outputs = outputs.filter(**run.project.kind.filter_lookup(label))
    if point_id:
        outputs = outputs.filter(Exists(Grade.objects.filter(output=OuterRef("pk"), points=point_id)))
    if graded_by:
        outputs = outputs.filter(Exists(Grade.objects.filter(output=OuterRef("pk"), reviewer=graded_by)))
    return outputs.order_by("id")


def queue_candidates(run: Run, reviewer, *, after_id: int = 0, **filters) -> list[list[int]]:
    """The ids a reviewer may be given next, in the order to try them: the first 50 waiting for them, or (for
    other views) the next 50 after `after_id` and then the first 50, wrapping round. Leases are not looked at
    here: `queue.queue_take` leases the first free one."""
    outputs = review_outputs(run, reviewer, **filters)
    # What waits for this reviewer needs no cursor: a graded output leaves that queue. Other views are
    # walked in id order from the current output, wrapping round to the start.
    starts = (None,) if filters.get("show", "ungraded") == "ungraded" else (after_id, 0)
    return [list((outputs if start is None else outputs.filter(id__gt=start)).values_list("id", flat=True)[:50])
            for start in starts]


def neighbour_ids(outputs: QuerySet[Output], output: Output) -> tuple[int | None, int | None]:
    previous = outputs.filter(id__lt=output.id).order_by("-id").values_list("id", flat=True).first()
    following = outputs.filter(id__gt=output.id).order_by("id").values_list("id", flat=True).first()
    return previous, following


def my_grade(output: Output, reviewer) -> Grade | None:
    return Grade.objects.filter(output=output, reviewer=reviewer).prefetch_related("points").first()


def runs_waiting_for(project, reviewer) -> list[dict]:
    """The project's runs with outputs waiting for this reviewer's grade, and how many, newest run first."""
    mine = Grade.objects.filter(output=OuterRef("pk"), reviewer=reviewer)
    waiting = (Output.objects.filter(run__project=project, review_count__lt=F("run__reviews_per_output"))
               .exclude(Exists(mine)).values("run").annotate(waiting=Count("id")).order_by("-run"))
    runs = {run.id: run for run in Run.objects.filter(id__in=[row["run"] for row in waiting])
            .select_related("prompt_version__template", "model")}
    return [{"run": runs[row["run"]], "waiting": row["waiting"]} for row in waiting]


def lease_key(output_id: int) -> str:
    return f"review-lease:{output_id}"


def held_by_others(run: Run, reviewer) -> list[dict]:
    """Outputs waiting for this reviewer that others hold right now: who holds each, and until when."""
    ids = list(review_outputs(run, reviewer).values_list("id", flat=True)[:200])
    holders = cache.get_many([lease_key(i) for i in ids])
    held = []
    for output_id in ids:
        holder = holders.get(lease_key(output_id))
        if isinstance(holder, dict) and holder.get("user") != reviewer.id:
            held.append({"output_id": output_id, "name": holder.get("name", "someone"),
                         "until": datetime.fromtimestamp(holder["until"], tz=UTC)})
    return held


def queue_counts(run: Run, reviewer) -> dict:
    total = run.total  # fixed at launch; counting the outputs would cost a scan of the run
    mine = Grade.objects.filter(output__run=run, reviewer=reviewer).count()
    return {"total": total, "mine": mine}


# --- training points ---------------------------------------------------------------------

# The columns each list sorts by, and the fields each one orders.
POINT_SORTS = {"name": ["name"], "status": ["status", "name"], "failures": ["failure_count"],
               "examples": ["example_count"], "tests": ["test_count"]}
EXAMPLE_SORTS = {"id": ["id"], "text": ["text"], "added": ["created_at"]}
TEST_CASE_SORTS = {"id": ["id"], "text": ["text"], "group": ["paraphrase_group"], "added": ["created_at"]}


def points_of(project, *, sort: str = "status") -> QuerySet[TrainingPoint]:
    return project.training_points.annotate(
        failure_count=Count("grades", filter=Q(grades__verdict=Verdict.FAIL), distinct=True),
        example_count=Count("training_examples", distinct=True),
        test_count=Count("test_cases", distinct=True),
    ).order_by(*sort_ordering(sort, POINT_SORTS))


def examples_of(project, *, point_id: int | None = None, q: str = "",
                sort: str = "-added") -> QuerySet[TrainingExample]:
    """The project's training examples: of one point, whose text or point name contains `q`, in `sort` order."""
    return _tagged(project.training_examples.prefetch_related("points"), point_id=point_id, q=q).order_by(
        *sort_ordering(sort, EXAMPLE_SORTS))


def test_cases_of(project, *, point_id: int | None = None, q: str = "", sort: str = "group") -> QuerySet[TestCase]:
    """The project's test cases: of one point, whose text, group or point name contains `q`, in `sort` order."""
    cases = _tagged(project.test_cases.prefetch_related("points"), point_id=point_id, q=q, also=("paraphrase_group",))
    return cases.order_by(*sort_ordering(sort, TEST_CASE_SORTS))


def _tagged(rows: QuerySet, *, point_id: int | None, q: str, also: tuple[str, ...] = ()) -> QuerySet:
    if point_id is not None:
        rows = rows.filter(points=point_id)
    if q:
        match = Q(text__icontains=q) | Q(points__name__icontains=q)
        for field in also:
            match |= Q(**{f"{field}__icontains": q})
        # A row matching through two of its points would appear twice; the ids keep it once.
        rows = rows.filter(id__in=rows.model.objects.filter(match).values("id"))
    return rows


# --- agreement ---------------------------------------------------------------------------

def _answer_of(grade: Grade, kind) -> str:
    """The identity of the answer a reviewer stands by: their correction, else the model's answer."""
    answer = grade.corrected_answer if grade.corrected_answer is not None else grade.output.answer
    return kind.identity(answer) if isinstance(answer, dict) else ""


def agreement(project) -> dict:
    """Kappa on verdicts and on answers: overall (Fleiss) and for each pair of reviewers (Cohen)."""
    grades = Grade.objects.filter(output__run__project=project).select_related("output", "reviewer")
    ratings: dict[int, dict] = defaultdict(dict)
    names = {}
    for grade in grades:
        ratings[grade.output_id][grade.reviewer_id] = (grade.verdict, _answer_of(grade, project.kind))
        names[grade.reviewer_id] = grade.reviewer.username
    return agreement_figures(ratings, names)


def disagreements(project) -> list[Output]:
    """Outputs whose reviewers disagree (verdict or answer) and that no lead has decided yet."""
    outputs = Output.objects.filter(run__project=project, review_count__gte=2, adjudication__isnull=True).annotate(
        verdicts=Count("grades__verdict", distinct=True)).select_related("record", "run")
    result = []
    for output in outputs.prefetch_related("grades__reviewer"):
        grades = list(output.grades.all())
        answers = {_answer_of(g, project.kind) for g in grades}
        if output.verdicts > 1 or len(answers) > 1:
            output.review_grades = grades
            result.append(output)
    return result


def reviewer_activity(project, *, days: int = 14) -> dict:
    """Per reviewer: grades per day (the last `days`), median seconds per grade, and disagreement rate (the share
    of their grades on outputs another reviewer also graded where the other's verdict differs)."""
    grades = Grade.objects.filter(output__run__project=project)
    others = Grade.objects.filter(output=OuterRef("output")).exclude(reviewer=OuterRef("reviewer"))
    summary = list(grades.values("reviewer_id", "reviewer__username").annotate(
        grades=Count("id"), shared=Count("id", filter=Q(Exists(others))),
        disagreed=Count("id", filter=Q(Exists(others.exclude(verdict=OuterRef("verdict"))))),
        **({"median_seconds": Percentile("seconds_spent", 0.5)} if has_percentile() else {}),
    ).order_by("reviewer__username"))
    if not has_percentile():
        for row in summary:
            seconds = sorted(grades.filter(reviewer_id=row["reviewer_id"]).values_list("seconds_spent", flat=True))
            row["median_seconds"] = percentile_of_sorted(seconds, 0.5)
    for row in summary:
        row["disagreement_rate"] = row["disagreed"] / row["shared"] if row["shared"] else None
    today = timezone.localdate()
    day_list = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    per_day = grades.filter(created_at__date__gte=day_list[0]).annotate(day=TruncDate("created_at")).values(
        "reviewer_id", "day").annotate(n=Count("id"))
    counts = {(row["reviewer_id"], row["day"]): row["n"] for row in per_day}
    for row in summary:
        row["per_day"] = [counts.get((row["reviewer_id"], day), 0) for day in day_list]
    return {"days": day_list, "reviewers": summary, "busiest": max((n for n in counts.values()), default=0)}


# --- grade status of listed outputs ----------------------------------------------------------

@dataclass(frozen=True)
class GradeStatus:
    passes: int = 0
    fails: int = 0
    adjudicated: str | None = None  # the lead's verdict, when a disagreement was settled

    @property
    def grades(self) -> int:
        return self.passes + self.fails

    @property
    def verdict(self) -> str:
        """pass, fail, split (reviewers disagree), or "not yet"; an adjudication settles a split."""
        if self.adjudicated:
            return self.adjudicated
        if self.passes and self.fails:
            return "split"
        return "pass" if self.passes else "fail" if self.fails else "not yet"


def grade_status_of(outputs) -> dict[int, GradeStatus]:
    """Each listed output's grades so far, in one query for the whole page (a run's outputs table)."""
    rows = (Output.objects.filter(id__in=[o.id for o in outputs])
            .annotate(passes=Count("grades", filter=Q(grades__verdict=Verdict.PASS)),
                      fails=Count("grades", filter=Q(grades__verdict=Verdict.FAIL)),
                      adjudicated=F("adjudication__verdict"))
            .values_list("id", "passes", "fails", "adjudicated"))
    return {output_id: GradeStatus(passes, fails, adjudicated) for output_id, passes, fails, adjudicated in rows}


def human_verdicts(output_ids) -> dict[int, bool | None]:
    """People's verdict on each output: a lead's adjudication, else the reviewers' majority; None where nobody
    graded it or the reviewers are split evenly (a lead settles that)."""
    rows = (Output.objects.filter(id__in=list(output_ids))
            .annotate(passes=Count("grades", filter=Q(grades__verdict=Verdict.PASS)),
                      fails=Count("grades", filter=Q(grades__verdict=Verdict.FAIL)),
                      adjudicated=F("adjudication__verdict"))
            .values_list("id", "passes", "fails", "adjudicated"))
    verdicts = {}
    for output_id, passes, fails, adjudicated in rows:
        if adjudicated:
            verdicts[output_id] = adjudicated == Verdict.PASS
        else:
            verdicts[output_id] = None if passes == fails else passes > fails
    return verdicts


def expected_of(project, record) -> dict | None:
    """A record's expected answer: the dataset's gold (its label or spans), else one it carries in its metadata
    (an eval's answer sent to review carries its test case's expected answer)."""
    expected = project.kind.expected_answer(record)
    if expected is None and isinstance(record.metadata, dict):
        expected = record.metadata.get("expected_answer")
    return expected
