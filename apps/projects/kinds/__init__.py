"""What differs by task kind lives in one module per kind; adding a kind is adding a module and its partials.

The protocol (every method and what it promises) is documented in `base.py`. This package holds the registry
of kinds and the few helpers every caller uses, so no caller ever compares `Project.task_kind`:

    kind = kind_for(project)                   # the kind's object; `project.kind` is the same
    answer_schema(project, reasoning=True)     # the JSON schema sent to the model
    answer_problems(project, answer, text=t)   # [] when the answer is valid
    AnswerCheck(project, text=t)               # the `validate` the llm client takes (with the kind's parse)
    same_answer(project, a, b)                 # equal identities (reasoning left out)
    answer_key(project, answer, valid=...)     # a short digest for consistency; unique when not valid
    strip_reasoning(answer)                    # the one place `reasoning` is taken out

A kind registered by `register()` (a plug-in, or a test's toy kind) is used like the built-in ones.
"""

import hashlib
import uuid

from . import classification, generation, ner
from .base import REASONING, Kind, Score, canonical, json_answer, strip_reasoning

__all__ = ["INVALID_KEY_PREFIX", "KINDS", "AnswerCheck", "Kind", "Score", "answer_key", "answer_problems",
           "answer_schema", "canonical", "is_invalid_key", "json_answer", "kind_for", "kinds_of_setting", "register",
           "same_answer", "strip_reasoning", "unregister"]

KINDS: dict[str, Kind] = {}

REASONING_PROPERTY = {REASONING: {"type": "string", "description": "Step-by-step reasoning before the answer."}}
INVALID_KEY_PREFIX = "!"  # no hex digest starts with it


def register(kind: Kind) -> Kind:
    """Make `kind` available to projects whose `task_kind` is `kind.name`."""
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    KINDS.pop(name, None)


for _module in (classification, ner, generation):
    register(_module.KIND)


def kind_for(project) -> Kind:
    return KINDS[project.task_kind]


def kinds_of_setting(field_name: str) -> list[str]:
    """The kinds a project setting belongs to (see Kind.settings_fields); [] for a setting of every kind."""
    return [name for name, kind in KINDS.items() if field_name in kind.settings_fields]


def answer_schema(project, *, reasoning: bool = False) -> dict:
    """The JSON schema of a valid answer; chain-of-thought prompts put `reasoning` first (kept, not scored)."""
    properties = kind_for(project).answer_properties(project)
    if reasoning:
        properties = {**REASONING_PROPERTY, **properties}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def answer_problems(project, answer, *, text: str) -> list[str]:
    if not isinstance(answer, dict):
        return ["the answer is not a JSON object"]
    return kind_for(project).answer_problems(project, answer, text=text)


class AnswerCheck:
    """How the llm client reads and checks one answer for `project` and the input `text`.

    Called with an answer (a dict) it returns the answer's problems (`answer_problems`); `parse(reply)` reads a
    reply that holds no JSON object with the kind's lenient parse (e.g. a bare label), or returns None.
    """

    def __init__(self, project, *, text: str):
        self.project, self.text = project, text

    def __call__(self, answer) -> list[str]:
        return answer_problems(self.project, answer, text=self.text)

    def parse(self, reply: str) -> dict | None:
        return kind_for(self.project).parse(self.project, reply)


def same_answer(project, a, b) -> bool:
    """Whether two answers say the same (reasoning and, for NER, offsets and order left out)."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return a == b
    kind = kind_for(project)
    return kind.identity(a) == kind.identity(b)


def answer_key(project, answer, *, valid: bool) -> str:
    """A 32-character digest of the answer's identity; an invalid answer gets a key of its own that agrees
    with nothing (not even another invalid answer), so consistency never counts non-answers as agreeing."""
    if not valid:
        return INVALID_KEY_PREFIX + uuid.uuid4().hex[:31]
    return hashlib.blake2b(kind_for(project).identity(answer).encode(), digest_size=16).hexdigest()


def is_invalid_key(key: str) -> bool:
    return key.startswith(INVALID_KEY_PREFIX)
