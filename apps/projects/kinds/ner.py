"""Named-entity recognition: the answer is a list of typed entities of the text.

A model answers {"entities": [{"text": "<exact words>", "type": "<type>"}]}; records and corrections may add
character offsets ("start", "end", end exclusive as in Python slices). Scoring places every entity in the text
(its offsets, or the next unused occurrence of its text) and compares places and types, as seqeval compares
chunks; "same answer?" compares entities as a multiset of (text with spaces normalised, type).
"""

import re
from collections import Counter
from dataclasses import dataclass

from django import forms
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from .base import Kind, Score, json_answer, strip_reasoning


def _record_problems(project, *, text: str, label: str, entities) -> list[str]:
    problems = []
    if label:
        problems.append("a label is only for classification projects; this is an NER project")
    if entities is None:
        return problems
    if not isinstance(entities, list):
        return [*problems, "entities must be a list of {start, end, type}"]
    previous_end = -1
    for number, span in enumerate(sorted(entities, key=_span_start), start=1):
        problem = _span_problem(project, text, span)
        if problem:
            problems.append(f"entity {number}: {problem}")
            continue
        if span["start"] < previous_end:
            problems.append(f"entity {number}: overlaps the entity before it ({span['start']}-{span['end']})")
        previous_end = max(previous_end, span["end"])
    return problems


def _span_start(span) -> int:
    return span.get("start", 0) if isinstance(span, dict) and isinstance(span.get("start"), int) else 0


def _span_problem(project, text: str, span) -> str | None:
    if not isinstance(span, dict):
        return "must be an object with start, end and type"
    start, end, kind = span.get("start"), span.get("end"), span.get("type")
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
        return "start and end must be integers (character offsets)"
    if not 0 <= start < end <= len(text):
        return f"span {start}-{end} is outside the text (length {len(text)}) or empty"
    if kind not in project.entity_types:
        known = ", ".join(project.entity_types) or "none yet; add them in the project's settings"
        return f"unknown entity type '{kind}' (the project's entity types are: {known})"
    if "text" in span and span["text"] != text[start:end]:
        return f"text '{span['text']}' does not match the text at {start}-{end} ('{text[start:end]}')"
    return None


def spans_from_tokens(tokens: list[tuple[str, str]]) -> tuple[str, list[dict]]:
    """Join (token, BIO tag) pairs with single spaces into text and character-offset spans.

    The tags must already be a valid BIO sequence.
    """
    text_parts, spans, offset = [], [], 0
    for token, tag in tokens:
        if text_parts:
            offset += 1
        start, end = offset, offset + len(token)
        text_parts.append(token)
        offset = end
        if tag.startswith("B-"):
            spans.append({"start": start, "end": end, "type": tag[2:]})
        elif tag.startswith("I-"):
            spans[-1]["end"] = end
    return " ".join(text_parts), spans


def tokens_with_tags(text: str, spans: list[dict]) -> list[tuple[str, str]]:
    """Split text on whitespace and tag each token by the span it falls in (BIO)."""
    tokens = []
    ordered = sorted(spans or [], key=lambda s: s["start"])
    position = 0
    for token in text.split():
        start = text.index(token, position)
        end = start + len(token)
        position = end
        tag = "O"
        for span in ordered:
            if span["start"] <= start and end <= span["end"]:
                tag = ("B-" if start == span["start"] else "I-") + span["type"]
                break
        tokens.append((token, tag))
    return tokens


# --- comparing entities ------------------------------------------------------------------

def entity_keys(answer) -> Counter:
    """The entities of an answer as a multiset of (text with spaces normalised, type)."""
    entities = answer.get("entities") if isinstance(answer, dict) else None
    keys = Counter()
    for entity in entities or []:
        if isinstance(entity, dict) and isinstance(entity.get("text"), str):
            keys[(" ".join(entity["text"].split()), entity.get("type"))] += 1
    return keys


@dataclass(frozen=True)
class SpanScore:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def span_score(expected: dict, answer, *, text: str | None = None) -> SpanScore:
    """Entity level: an entity counts when its place in `text` (start, end) and its type both match.

    With `text`, both sides are placed in it by `placed_spans`: a predicted entity the text does not contain
    (or whose occurrences are all taken), or one that is not an object with a text, is a false positive; an
    unknown type never matches, so it is a false positive too. Without `text` (a caller that has none), the
    entities compare as multisets of (text with spaces normalised, type).
    """
    if text is None:
        wanted, found = entity_keys(expected), entity_keys(answer)
        hits = sum((wanted & found).values())
        return SpanScore(hits, sum(found.values()) - hits, sum(wanted.values()) - hits)
    match = span_match(expected, answer, text)
    hits = len(match.gold & match.predicted)
    return SpanScore(hits, len(match.predicted - match.gold) + len(match.unplaced),
                     len(match.gold - match.predicted) + len(match.gold_unplaced))


Span = tuple[int, int, str]  # start, end (exclusive), type


@dataclass(frozen=True)
class SpanMatch:
    """The expected and predicted entities of one answer placed in its text.

    `gold` and `predicted` are sets of (start, end, type): an entity named twice at the same place is one
    entity. `unplaced` holds the types of predicted entities that could not be placed (false positives);
    `gold_unplaced` those of expected entities that could not be (misses; only a malformed test case has any).
    """

    gold: frozenset
    predicted: frozenset
    unplaced: tuple = ()
    gold_unplaced: tuple = ()


def span_match(expected, answer, text: str) -> SpanMatch:
    gold, gold_unplaced = placed_spans(expected, text)
    predicted, unplaced = placed_spans(answer, text)
    return SpanMatch(frozenset(gold), frozenset(predicted), tuple(unplaced), tuple(gold_unplaced))


def placed_spans(answer, text: str) -> tuple[list[Span], list[str]]:
    """Each entity of an answer placed in `text`: (spans, types of the entities that could not be placed).

    An entity with offsets that fit the text (and its own text, if given) keeps them. Any other entity takes
    the first occurrence of its text, left to right, that no entity placed before it overlaps (entities of one
    answer do not overlap), longer ones first: "Rotor Volgograd" takes its place before "Rotor" looks for one,
    and a lone "Rotor" takes the first "Rotor" of the text, even inside "Rotor Volgograd". A second entity of the
    same text takes the next occurrence.
    """
    entities = answer.get("entities") if isinstance(answer, dict) else None
    if not isinstance(entities, list):
        return [], []
    spans, unplaced, taken = [], [], []
    given = [(entity, _given_place(entity, text)) for entity in entities]
    free = sorted((entity for entity, place in given if place is None), key=lambda e: -len(_words(e)))
    for entity, place in [*((e, p) for e, p in given if p is not None), *((e, None) for e in free)]:
        place = place or _free_occurrence(entity, text, taken)
        kind = entity.get("type") if isinstance(entity, dict) else None
        if place is None:
            unplaced.append(str(kind or ""))
            continue
        taken.append(place)
        spans.append((*place, str(kind or "")))
    return spans, unplaced


def _words(entity) -> str:
    words = entity.get("text") if isinstance(entity, dict) else None
    return " ".join(words.split()) if isinstance(words, str) else ""


def _given_place(entity, text: str) -> tuple[int, int] | None:
    if not isinstance(entity, dict):
        return None
    start, end = entity.get("start"), entity.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or isinstance(end, bool):
        return None
    if not 0 <= start < end <= len(text):
        return None
    if isinstance(entity.get("text"), str) and _words(entity) != " ".join(text[start:end].split()):
        return None
    return start, end


def _free_occurrence(entity, text: str, taken: list) -> tuple[int, int] | None:
    words = _words(entity)
    if not words:
        return None
    pattern = r"\s+".join(re.escape(word) for word in words.split())  # spacing as the text has it
    for found in re.finditer(pattern, text):
        start, end = found.span()
        if not any(start < other_end and other_start < end for other_start, other_end in taken):
            return start, end
    return None


def answer_spans(answer, text: str) -> list[dict]:
    """Entities of an answer as character spans of `text`, each found after the one before it.

    Spans that already carry offsets are kept; an entity whose text is not found is left out.
    """
    entities = (answer or {}).get("entities") if isinstance(answer, dict) else None
    spans, position = [], 0
    for entity in entities or []:
        if not isinstance(entity, dict):
            continue
        if isinstance(entity.get("start"), int) and isinstance(entity.get("end"), int):
            spans.append({"start": entity["start"], "end": entity["end"], "type": entity.get("type", "")})
            continue
        found = text.find(str(entity.get("text", "")), position)
        if found == -1:
            found = text.find(str(entity.get("text", "")))
        if found == -1 or not entity.get("text"):
            continue
        spans.append({"start": found, "end": found + len(entity["text"]), "type": entity.get("type", "")})
        position = found + len(entity["text"])
    return sorted(spans, key=lambda s: s["start"])



# --- the answer form: one row per entity ---------------------------------------------------

class EntityRowsWidget(forms.Widget):
    """Rows of (entity text, type), a few empty ones to add more; posted as NAME_text and NAME_type lists."""

    template_name = "kinds/ner/form.html"
    spare_rows = 3

    def __init__(self, *, entity_types, attrs=None):
        super().__init__(attrs)
        self.entity_types = list(entity_types)

    def format_value(self, value):
        return value if isinstance(value, list) else []

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        rows = [{"text": e.get("text", ""), "type": e.get("type", "")} for e in self.format_value(value)
                if isinstance(e, dict)]
        context["widget"].update(rows=rows + [{"text": "", "type": ""}] * self.spare_rows,
                                 entity_types=self.entity_types)
        return context

    def _render(self, template_name, context, renderer=None):
        return mark_safe(render_to_string(template_name, context))  # the project's templates, not the form renderer's

    def value_from_datadict(self, data, files, name):
        if data.get(name):  # a JSON answer posted as text, by a script or an older page
            return data[name]
        texts, types = data.getlist(f"{name}_text"), data.getlist(f"{name}_type")
        return [{"text": text.strip(), "type": kind} for text, kind in zip(texts, types, strict=False) if text.strip()]

    def value_omitted_from_data(self, data, files, name):
        return f"{name}_text" not in data and name not in data


class EntitiesField(forms.Field):
    """Entity rows whose value is an answer: {"entities": [{"text", "type"}]} (no rows: no entities)."""

    def __init__(self, *, entity_types, **kwargs):
        kwargs.pop("max_length", None)
        super().__init__(widget=EntityRowsWidget(entity_types=entity_types), **kwargs)

    def prepare_value(self, value):
        return value.get("entities", []) if isinstance(value, dict) else value

    def to_python(self, value):
        if isinstance(value, str):
            answer = json_answer(value)
            if answer is None:
                raise forms.ValidationError("Give the entities as rows (or a JSON object).")
            return answer
        if not value and not self.required:
            return None  # an optional answer left empty (e.g. "the model's answer stands")
        return {"entities": list(value or [])}

    def validate(self, value):
        rows = (value or {}).get("entities")
        for row in rows if isinstance(rows, list) else []:  # shapes and offsets: the services check them
            if isinstance(row, dict) and row.get("type") not in self.widget.entity_types:
                raise forms.ValidationError(f"Choose a type for '{row.get('text', '')}'.")


# --- the kind ----------------------------------------------------------------------------

class Ner(Kind):
    name = "ner"
    settings_fields = ("entity_types", "f1_threshold")
    title = "NER"
    record_field = "entities"
    answer_noun = "Entities"
    has_f1 = True
    breakdown = "entity types"
    import_formats = ("conll",)

    def answer_properties(self, project) -> dict:
        entity = {
            "type": "object",
            "properties": {"text": {"type": "string"},
                           "type": {"type": "string", "enum": list(project.entity_types)}},
            "required": ["text", "type"],
            "additionalProperties": False,
        }
        return {"entities": {"type": "array", "items": entity}}

    def answer_instruction(self, project) -> str:
        return ('Answer with JSON only, in the form {"entities": [{"text": "<exact words from the text>", '
                '"type": "<type>"}]}, where <type> is one of: ' + ", ".join(project.entity_types)
                + '. Use {"entities": []} when there is none.')

    def answer_problems(self, project, answer: dict, *, text: str) -> list[str]:
        entities = answer.get("entities")
        if not isinstance(entities, list):
            return ["the answer has no entities list"]
        problems = []
        for number, entity in enumerate(entities, start=1):
            if not isinstance(entity, dict) or not isinstance(entity.get("text"), str):
                problems.append(f"entity {number} has no text")
            elif entity.get("type") not in project.entity_types:
                problems.append(f"entity {number} has unknown type '{entity.get('type')}'")
            elif entity["text"] not in text:
                problems.append(f"entity {number} ('{entity['text']}') is not in the text")
            elif "start" in entity and text[entity.get("start", 0):entity.get("end", 0)] != entity["text"]:
                problems.append(f"entity {number} ('{entity['text']}') does not match the text at its offsets")
        return problems

    def identity(self, answer) -> str:
        return repr(sorted(entity_keys(strip_reasoning(answer)).items(), key=repr))

    def score(self, project, expected, answer, *, valid: bool, text: str = "") -> Score:
        """With the text, an answer is scored for what is valid in it even when it has problems (they stay
        listed on the output): its placeable entities of known types can match, the rest are false positives.
        """
        if not text:
            spans = span_score(expected, answer if valid else None)
        else:
            spans = span_score(expected, answer, text=text)
        return Score(spans.f1 >= project.f1_threshold - 1e-9, spans.f1, spans.true_positives,
                     spans.false_positives, spans.false_negatives)

    def answer_summary(self, answer) -> str:
        entities = (answer or {}).get("entities") if isinstance(answer, dict) else None
        if not isinstance(entities, list):
            return ""
        return ", ".join(f"{e.get('text')} ({e.get('type')})" for e in entities if isinstance(e, dict))

    def spans(self, answer, text: str) -> list[dict]:
        return answer_spans(answer, text)

    def categories(self, answer) -> list[str]:
        entities = (answer or {}).get("entities") if isinstance(answer, dict) else None
        if not isinstance(entities, list):
            return []
        return [str(e["type"]) for e in entities if isinstance(e, dict) and e.get("type")]

    def record_problems(self, project, *, text: str, label: str, entities) -> list[str]:
        return _record_problems(project, text=text, label=label, entities=entities)

    def expected_answer(self, record) -> dict | None:
        if record.entities is None:
            return None
        return {"entities": [{"text": record.text[e["start"]:e["end"]], "type": e["type"]}
                             for e in record.entities]}

    def gold_spans(self, record) -> list[dict] | None:
        if record.entities is None:
            return None
        return answer_spans({"entities": record.entities}, record.text)

    def settings_problem(self, *, labels: list, entity_types: list) -> str:
        return "" if entity_types else "An NER project needs at least one entity type."

    def span_types(self, project) -> list[str]:
        return list(project.entity_types)

    def form_field(self, project, **kwargs) -> forms.Field:
        return EntitiesField(entity_types=project.entity_types, **kwargs)


KIND = Ner()
