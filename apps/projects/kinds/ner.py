"""Named-entity recognition: the answer is a list of typed character spans of the text.

A span is {"start": int, "end": int, "type": str} with end exclusive, as Python slices.
"""


def record_problems(project, *, text: str, label: str, entities) -> list[str]:
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


def answer_properties(project) -> dict:
    entity = {
        "type": "object",
        "properties": {"text": {"type": "string"}, "type": {"type": "string", "enum": list(project.entity_types)}},
        "required": ["text", "type"],
        "additionalProperties": False,
    }
    return {"entities": {"type": "array", "items": entity}}


def answer_instruction(project) -> str:
    return ('Answer with JSON only, in the form {"entities": [{"text": "<exact words from the text>", '
            '"type": "<type>"}]}, where <type> is one of: ' + ", ".join(project.entity_types)
            + '. Use {"entities": []} when there is none.')


def answer_problems(project, answer: dict, *, text: str) -> list[str]:
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


def answer_summary(answer) -> str:
    entities = (answer or {}).get("entities") if isinstance(answer, dict) else None
    if not isinstance(entities, list):
        return ""
    return ", ".join(f"{e.get('text')} ({e.get('type')})" for e in entities if isinstance(e, dict))


def expected_answer(record) -> dict | None:
    if record.entities is None:
        return None
    return {"entities": [{"text": record.text[e["start"]:e["end"]], "type": e["type"]} for e in record.entities]}


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
