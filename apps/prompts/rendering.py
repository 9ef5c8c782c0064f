"""Turn a project, a prompt version and a record's text into the exact messages sent to a model."""

import json
import re

from apps.projects.kinds import answer_schema, kind_for

from .models import PromptStyle, PromptVersion

VARIABLE = re.compile(r"\{(text|labels|entity_types|glossary|examples)\}")
COT_INSTRUCTION = ('Think step by step first: put your reasoning in a "reasoning" field, '
                   "then give the answer in the same JSON object.")


def glossary_text(project) -> str:
    return "\n".join(f"- {g['term']}: {g['definition']}" for g in project.glossary)


def examples_text(examples: list[dict]) -> str:
    return "\n\n".join(f"Text: {e['text']}\nAnswer: {json.dumps(e['answer'], ensure_ascii=False)}" for e in examples)


def _fill(template: str, values: dict) -> str:
    # Only our own variables are replaced, so literal braces (JSON in a prompt) stay as written.
    return VARIABLE.sub(lambda m: values[m.group(1)], template)


def render_messages(project, version: PromptVersion, text: str) -> list[dict]:
    values = {
        "text": text,
        "labels": ", ".join(project.labels),
        "entity_types": ", ".join(project.entity_types),
        "glossary": glossary_text(project),
        "examples": examples_text(version.examples),
    }
    system_parts = [_fill(version.system, values).strip()]
    templates = version.system + version.user_template
    if version.style == PromptStyle.DEFINITIONS and "{glossary}" not in templates and project.glossary:
        system_parts.append("In this task these words have the organisation's own meaning:\n" + values["glossary"])
    system_parts.append(kind_for(project).answer_instruction(project))
    if version.wants_reasoning:
        system_parts.append(COT_INSTRUCTION)
    messages = [{"role": "system", "content": "\n\n".join(p for p in system_parts if p)}]
    if version.style == PromptStyle.FEW_SHOT and "{examples}" not in templates:
        for example in version.examples:
            example_text = _fill(version.user_template, {**values, "text": example["text"]})
            messages.append({"role": "user", "content": example_text})
            messages.append({"role": "assistant", "content": json.dumps(example["answer"], ensure_ascii=False)})
    messages.append({"role": "user", "content": _fill(version.user_template, values)})
    return messages


def schema_for(project, version: PromptVersion) -> dict:
    return answer_schema(project, reasoning=version.wants_reasoning)
