"""Reads of the review loop: the queue, the screen's data, training points, agreement."""

import re
from collections import Counter, defaultdict
from datetime import timedelta
from itertools import combinations

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.core.db import Percentile, has_percentile, percentile_of_sorted
from apps.projects.kinds import kind_for
from apps.projects.kinds.ner import answer_spans
from apps.runs.models import Output, OutputStatus, Run

from .models import Grade, TestCase, TrainingExample, TrainingPoint, Verdict

LEASE_SECONDS = 600
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


def output_in_run(run: Run, output_id) -> Output:
    return get_object_or_404(Output.objects.select_related("record", "run__project", "run__prompt_version__template",
                                                           "run__model"), id=output_id, run=run)


def output_in_project(project, output_id) -> Output:
    return get_object_or_404(Output.objects.select_related("record", "run"), id=output_id, run__project=project)


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
        outputs = outputs.filter(answer__label=label)
    if point_id:
        outputs = outputs.filter(Exists(Grade.objects.filter(output=OuterRef("pk"), points=point_id)))
    if graded_by:
        outputs = outputs.filter(Exists(Grade.objects.filter(output=OuterRef("pk"), reviewer=graded_by)))
    return outputs.order_by("id")


def queue_next(run: Run, reviewer, *, after_id: int = 0, **filters) -> Output | None:
    """The next output for this reviewer after `after_id`, wrapping round to the start.

    With one review per output, an output shown to one reviewer is held for them for a
    while (a lease in the cache), so two reviewers working the same run see different outputs.
    """
    outputs = review_outputs(run, reviewer, **filters)
    # What waits for this reviewer needs no cursor: a graded output leaves that queue. Other views are
    # walked in id order from the current output, wrapping round to the start.
    starts = (None,) if filters.get("show", "ungraded") == "ungraded" else (after_id, 0)
    for start in starts:
        page = outputs if start is None else outputs.filter(id__gt=start)
        chosen = _first_free(run, reviewer, list(page.values_list("id", flat=True)[:50]))
        if chosen:
            return Output.objects.select_related("record").get(id=chosen)
    return None


def _first_free(run: Run, reviewer, candidate_ids: list[int]) -> int | None:
    if run.reviews_per_output > 1:
        return candidate_ids[0] if candidate_ids else None
    holders = cache.get_many([_lease_key(i) for i in candidate_ids])
    for output_id in candidate_ids:
        key = _lease_key(output_id)
        holder = holders.get(key)
        if holder == reviewer.id or (holder is None and cache.add(key, reviewer.id, LEASE_SECONDS)):
            return output_id
    return None


def _lease_key(output_id: int) -> str:
    return f"review-lease:{output_id}"


def neighbour_ids(outputs: QuerySet[Output], output: Output) -> tuple[int | None, int | None]:
    previous = outputs.filter(id__lt=output.id).order_by("-id").values_list("id", flat=True).first()
    following = outputs.filter(id__gt=output.id).order_by("id").values_list("id", flat=True).first()
    return previous, following


def my_grade(output: Output, reviewer) -> Grade | None:
    return Grade.objects.filter(output=output, reviewer=reviewer).prefetch_related("points").first()


def queue_counts(run: Run, reviewer) -> dict:
    total = run.total  # fixed at launch; counting the outputs would cost a scan of the run
    mine = Grade.objects.filter(output__run=run, reviewer=reviewer).count()
    return {"total": total, "mine": mine}


# --- what the screen shows ---------------------------------------------------------------

def text_segments(text: str, *, glossary: list[dict], spans: list[dict]) -> list[dict]:
    """Cut the text where a glossary term or an entity span starts or ends.

    Each piece: {"text", "start", "end", "span": index or None, "term": definition or None}.
    One pass over the text, whatever its length and however many spans it has.
    """
    terms = glossary_matches(text, glossary)
    cuts = {0, len(text)}
    for item in (*spans, *terms):
        cuts.update((item["start"], item["end"]))
    cuts = sorted(c for c in cuts if 0 <= c <= len(text))
    span_at = _index_by_position(spans, cuts)
    term_at = _index_by_position(terms, cuts)
    segments = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        if start == end:
            continue
        term = term_at.get(start)
        segments.append({"text": text[start:end], "start": start, "end": end, "span": span_at.get(start),
                         "term": terms[term]["definition"] if term is not None else None})
    return segments


def _index_by_position(items: list[dict], cuts: list[int]) -> dict[int, int]:
    """For each cut position, the index of the item covering the piece that starts there."""
    covering: dict[int, int] = {}
    ordered = sorted(range(len(items)), key=lambda i: items[i]["start"])
    position = 0
    for cut in cuts:
        while position < len(ordered) and items[ordered[position]]["end"] <= cut:
            position += 1
        if position < len(ordered) and items[ordered[position]]["start"] <= cut < items[ordered[position]]["end"]:
            covering[cut] = ordered[position]
    return covering


def glossary_matches(text: str, glossary: list[dict]) -> list[dict]:
    definitions = {g["term"].lower(): g["definition"] for g in glossary if g.get("term")}
    if not definitions:
        return []
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(definitions, key=len, reverse=True))
                         + r")\b", re.IGNORECASE)
    return [{"start": m.start(), "end": m.end(), "definition": definitions[m.group(0).lower()]}
            for m in pattern.finditer(text)]


def screen_spans(project, output: Output, grade: Grade | None) -> list[dict]:
    """The entity spans to show: the reviewer's correction if any, else the model's answer."""
    if project.task_kind != "ner":
        return []
    answer = grade.corrected_answer if grade and grade.corrected_answer is not None else output.answer
    return answer_spans(answer, output.record.text)


def answer_summary(project, answer) -> str:
    return kind_for(project).answer_summary(answer)


# --- training points ---------------------------------------------------------------------

def points_of(project) -> QuerySet[TrainingPoint]:
    return project.training_points.annotate(
        failure_count=Count("grades", filter=Q(grades__verdict=Verdict.FAIL), distinct=True),
        example_count=Count("training_examples", distinct=True),
        test_count=Count("test_cases", distinct=True),
    ).order_by("status", "name")


# --- agreement ---------------------------------------------------------------------------

def cohen_kappa(pairs: list[tuple]) -> float | None:
    """Cohen's kappa of two raters over items rated by both: (observed - chance) / (1 - chance)."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(1 for a, b in pairs if a == b) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(left[c] * right[c] for c in set(left) | set(right)) / (n * n)
    if chance == 1:
        return 1.0 if observed == 1 else 0.0
    return (observed - chance) / (1 - chance)


def fleiss_kappa(items: list[list]) -> float | None:
    """Fleiss' kappa over items each rated by the same number (at least 2) of raters."""
    items = [ratings for ratings in items if len(ratings) >= 2]
    if not items:
        return None
    raters = min(len(r) for r in items)
    items = [r[:raters] for r in items]
    n = len(items)
    categories = Counter(c for ratings in items for c in ratings)
    p_bar = sum((sum(v * v for v in Counter(r).values()) - raters) / (raters * (raters - 1)) for r in items) / n
    p_e = sum((count / (n * raters)) ** 2 for count in categories.values())
    if p_e == 1:
        return 1.0 if p_bar == 1 else 0.0
    return (p_bar - p_e) / (1 - p_e)


def _label_of(grade: Grade) -> str:
    answer = grade.corrected_answer if grade.corrected_answer is not None else grade.output.answer
    return str((answer or {}).get("label", "")) if isinstance(answer, dict) else ""


def agreement(project) -> dict:
    """Kappa on verdicts and on labels: overall (Fleiss) and for each pair of reviewers (Cohen)."""
    grades = Grade.objects.filter(output__run__project=project).select_related("output", "reviewer")
    by_output: dict[int, dict] = defaultdict(dict)
    names = {}
    for grade in grades:
        by_output[grade.output_id][grade.reviewer_id] = grade
        names[grade.reviewer_id] = grade.reviewer.username
    shared = {o: g for o, g in by_output.items() if len(g) >= 2}
    pairs = []
    for first, second in combinations(sorted(names), 2):
        both = [(g[first], g[second]) for g in shared.values() if first in g and second in g]
        if both:
            pairs.append({
                "reviewers": (names[first], names[second]), "items": len(both),
                "verdict_kappa": cohen_kappa([(a.verdict, b.verdict) for a, b in both]),
                "label_kappa": cohen_kappa([(_label_of(a), _label_of(b)) for a, b in both]),
            })
    return {
        "outputs": len(shared),
        "verdict_kappa": fleiss_kappa([[g.verdict for g in gs.values()] for gs in shared.values()]),
        "label_kappa": fleiss_kappa([[_label_of(g) for g in gs.values()] for gs in shared.values()]),
        "pairs": pairs,
    }


def disagreements(project) -> list[Output]:
    """Outputs whose reviewers disagree (verdict or answer) and that no lead has decided yet."""
    outputs = Output.objects.filter(run__project=project, review_count__gte=2, adjudication__isnull=True).annotate(
        verdicts=Count("grades__verdict", distinct=True)).select_related("record", "run")
    result = []
    for output in outputs.prefetch_related("grades__reviewer"):
        grades = list(output.grades.all())
        labels = {_label_of(g) for g in grades}
        if output.verdicts > 1 or len(labels) > 1:
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
