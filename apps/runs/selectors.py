import json
from collections.abc import Iterator

from django.db.models import Count, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.core.params import sort_ordering
from apps.llm.pricing import tokens_cost

from .models import Output, OutputStatus, Run

# The columns a run list sorts by, and the fields each one orders.
RUN_SORTS = {"id": ["id"], "prompt": ["prompt_version__template__name", "prompt_version__number"],
             "model": ["model__name"], "dataset": ["dataset__name"], "outputs": ["total"], "status": ["status"],
             "started": ["created_at"]}


def runs_of(project, *, sort: str = "-started", q: str = "") -> QuerySet[Run]:
    """The project's runs in `sort` order (see RUN_SORTS); `q` matches the prompt, model or dataset name, or the id."""
    runs = project.runs.select_related("prompt_version__template", "model", "dataset")
    if q:
        match = (Q(prompt_version__template__name__icontains=q) | Q(model__name__icontains=q)
                 | Q(dataset__name__icontains=q))
        if q.lstrip("#").isdigit():
            match |= Q(id=int(q.lstrip("#")))
        runs = runs.filter(match)
    return runs.order_by(*sort_ordering(sort, RUN_SORTS))


def run_for_user(user, run_id, *, role: str = Role.REVIEWER) -> Run:
    run = get_object_or_404(Run.objects.select_related("project", "prompt_version__template", "model", "dataset"),
                            id=run_id)
    check_project_role(user, run.project, role=role)
    return run


def output_for_user(user, output_id, *, role: str = Role.REVIEWER) -> Output:
    output = get_object_or_404(Output.objects.select_related("run__project", "record"), id=output_id)
    check_project_role(user, output.run.project, role=role)
    return output


def output_counts(run: Run) -> dict:
    """How many outputs are valid, invalid and errors, how many in all, and the percent done."""
    counts = {status: 0 for status in OutputStatus.values}
    for row in run.outputs.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    done = sum(counts.values())
    return {**counts, "done": done, "percent": int(100 * done / run.total) if run.total else 100}


def run_cost(run: Run) -> dict:
    """The run's tokens so far and what they cost at its model's prices (`total` None when a price is unknown)."""
    sums = run.outputs.aggregate(input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"))
    input_tokens, output_tokens = sums["input_tokens"] or 0, sums["output_tokens"] or 0
    return {"input_tokens": input_tokens, "output_tokens": output_tokens,
            "total": tokens_cost(run.model, input_tokens, output_tokens)}


def outputs_filtered(run: Run, *, status: str = "", label: str = "", q: str = "") -> QuerySet[Output]:
    outputs = run.outputs.select_related("record").order_by("record__position", "repeat")
    if status:
        outputs = outputs.filter(status=status)
    if label:
        outputs = outputs.filter(**run.project.kind.filter_lookup(label))
    if q:
        outputs = outputs.filter(Q(record__text__icontains=q) | Q(raw_text__icontains=q))
    return outputs


def output_rows(run: Run) -> Iterator[list]:
    """A run's outputs as CSV rows: every invalid or error row with its reason and the raw reply."""
    yield ["record", "repeat", "text", "expected label", "status", "answer", "reason", "raw reply", "latency ms",
           "input tokens", "output tokens"]
    for o in run.outputs.select_related("record").order_by("record__position", "repeat").iterator(chunk_size=1000):
        yield [o.record.position, o.repeat, o.record.text, o.record.label, o.status,
               json.dumps(o.answer, ensure_ascii=False) if o.answer is not None else "", o.reason, o.raw_text,
               o.latency_ms, o.input_tokens, o.output_tokens]
