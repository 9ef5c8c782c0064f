"""Every key of the review screen, in one list: the screen draws its key buttons and its `?` overlay from it."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReviewKey:
    key: str
    caption: str
    group: str
    attrs: dict = field(default_factory=dict)  # the button's data-* attributes, read by static/js/review.js
    css: str = ""
    title: str = ""


GRADE_KEYS = [
    ReviewKey("p", "Pass", "Grade", {"verdict": "pass"}, css="pass"),
    ReviewKey("e", "Pass + example", "Grade", {"verdict": "pass", "keep": "1"}, css="pass",
              title="Pass, and keep this answer as a training example"),
    ReviewKey("f", "Fail", "Grade", {"verdict": "fail"}, css="fail"),
    ReviewKey("x", "Make test case", "Grade", {"test-case": "1"}),
]
SPAN_KEYS = [
    ReviewKey("← →", "Move the token cursor", "Spans"),
    ReviewKey("Shift + ← →", "Extend the cursor over more tokens", "Spans"),
    ReviewKey("Del", "Remove the chosen span", "Spans"),
]
OTHER_KEYS = [
    ReviewKey("t", "Add a training point", "Other"),
    ReviewKey("c", "Write a comment", "Other"),
    ReviewKey("j", "Next output", "Other"),
    ReviewKey("k", "Previous output", "Other"),
    ReviewKey("u", "Undo your last grade", "Other"),
    ReviewKey("?", "Show or hide this list of keys", "Other"),
    ReviewKey("Esc", "Leave a text field, or close this list", "Other"),
]


def _number(index: int) -> str:
    return str(index + 1) if index < 9 else ""  # only 1–9 are keys; later choices are buttons only


def answer_keys(choices: list) -> list[ReviewKey]:
    """The kind's answer choices (classification labels): a number picks one as the right answer."""
    return [ReviewKey(_number(i), caption, "Right answer", {"choice": str(i)})
            for i, (caption, _) in enumerate(choices)]


def type_keys(span_types: list[str]) -> list[ReviewKey]:
    """The kind's entity types: a number (or a tap on its chip) marks the selection with that type."""
    return [ReviewKey(_number(i), name, "Entity type", {"span-type": str(i)}, css=f"type t{i}")
            for i, name in enumerate(span_types)]


def review_keys(choices: list, span_types: list[str]) -> dict:
    """The keys for one screen, by use, and all of them (`every`) for the overlay."""
    answers, types = answer_keys(choices), type_keys(span_types)
    spans = SPAN_KEYS if span_types else []
    every = [*GRADE_KEYS, *[k for k in answers + types if k.key], *spans, *OTHER_KEYS]
    return {"grade": GRADE_KEYS, "answers": answers, "types": types, "every": every}
