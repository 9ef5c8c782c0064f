"""What the review screen shows for one output: the text cut into pieces, the spans, and the data its script
reads. A read, like a selector; the task kind decides what is highlighted and which keys pick an answer."""

import json

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, members_of

from . import selectors
from .keys import review_keys
from .segments import glossary_matches, text_segments


def screen_context(*, run, output, reviewer, filters: dict, query: str) -> dict:
    project, record = run.project, output.record
    kind = project.kind
    grade = selectors.my_grade(output, reviewer)
    sequence = selectors.review_outputs(run, reviewer, **{**filters, "show": "all"}
                                        if filters["show"] == "ungraded" else filters)
    previous_id, next_id = selectors.neighbour_ids(sequence, output)
    stands = grade.corrected_answer if grade and grade.corrected_answer is not None else output.answer
    spans, model_spans = kind.spans(stands, record.text), kind.spans(output.answer, record.text)
    span_types, choices = kind.span_types(project), kind.choices(project)
    return {
        "run": run, "project": project, "kind": kind, "output": output, "record": record, "grade": grade,
        "segments": text_segments(record.text, glossary=project.glossary, spans=spans),
        "spans": spans, "model_spans": model_spans, "span_types": span_types,
        "keys": review_keys(choices, span_types), "choices": choices, "filter_choices": kind.filter_choices(project),
        "expected": selectors.expected_of(project, record), "gold": _gold(kind, record, span_types),
        "points": project.training_points.exclude(status="archived"),
        "previous_id": previous_id, "next_id": next_id, "query": query, "filters": filters,
        "counts": selectors.queue_counts(run, reviewer), "is_lead": has_role(project, Role.LEAD),
        "show_choices": selectors.SHOW_CHOICES, "reviewers": members_of(project),
        "screen_data": json.dumps({
            "choices": [answer for _, answer in choices], "span_types": span_types,
            "spans": spans, "model_spans": model_spans, "text": record.text if span_types else "",
            "terms": glossary_matches(record.text, project.glossary) if span_types else []}),
    }


def _gold(kind, record, span_types: list[str]) -> dict | None:
    """The dataset's gold spans highlighted in the text, to read beside the spans being graded (NER)."""
    spans = kind.gold_spans(record)
    if spans is None:
        return None
    segments = text_segments(record.text, glossary=[], spans=spans)
    for segment in segments:
        if segment["span"] is not None:
            segment["type"] = spans[segment["span"]]["type"]
            segment["type_index"] = span_types.index(segment["type"]) if segment["type"] in span_types else 0
    return {"segments": segments, "count": len(spans)}
