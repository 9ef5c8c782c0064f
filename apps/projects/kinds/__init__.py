"""What differs by task kind lives in one module per kind; adding a kind is adding a module.

Each module offers:
- `record_problems(project, *, text, label, entities) -> list[str]`: why a record's expected
  answer does not fit the project (empty when it does).
- `answer_properties(project) -> dict`: the JSON-schema properties of the model's answer.
- `answer_instruction(project) -> str`: how the answer must look, in words, for the prompt.
- `answer_problems(project, answer, *, text) -> list[str]`: why a parsed answer is not valid.
- `answer_summary(answer) -> str`: the answer in a few words, for tables.
- `answer_categories(answer) -> list[str]`: the labels or entity types of an answer (traffic distributions).
- `expected_answer(record) -> dict | None`: a record's expected answer in the answer format.
"""

from types import ModuleType

from . import classification, generation, ner

KINDS: dict[str, ModuleType] = {
    "classification": classification,
    "ner": ner,
    "generation": generation,
}

REASONING_PROPERTY = {"reasoning": {"type": "string", "description": "Step-by-step reasoning before the answer."}}


def kind_for(project) -> ModuleType:
    return KINDS[project.task_kind]


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
