"""The review screen's text cut into pieces: glossary terms to underline and entity spans to highlight."""

import re


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
    """Where the glossary's terms occur in the text (whole words, any case): {"start", "end", "definition"}."""
    definitions = {g["term"].lower(): g["definition"] for g in glossary if g.get("term")}
    if not definitions:
        return []
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(definitions, key=len, reverse=True))
                         + r")\b", re.IGNORECASE)
    return [{"start": m.start(), "end": m.end(), "definition": definitions[m.group(0).lower()]}
            for m in pattern.finditer(text)]
