"""What differs by task kind lives in one module per kind; adding a kind is adding a module.

Each module offers:
- `record_problems(project, *, text, label, entities) -> list[str]`: why an expected
  answer does not fit the project (empty when it does).
"""

from types import ModuleType

from . import classification, generation, ner

KINDS: dict[str, ModuleType] = {
    "classification": classification,
    "ner": ner,
    "generation": generation,
}


def kind_for(project) -> ModuleType:
    return KINDS[project.task_kind]
