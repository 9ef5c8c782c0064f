from django.db import IntegrityError, transaction
from django.db.models import Max

from apps.accounts.audit import audit_record
from apps.core.exceptions import ApplicationError
from apps.core.limits import LONG_TEXT_MAX, check_length
from apps.projects.kinds import answer_problems, kind_for

from .models import PromptPurpose, PromptStyle, PromptTemplate, PromptVersion

MAX_EXAMPLES = 50


@transaction.atomic
def prompt_create(*, project, name: str, user=None, description: str = "", purpose: str = PromptPurpose.TASK,
                  **version_fields) -> PromptTemplate:
    """A new prompt with its first version (`purpose` judge: a judge model's prompt, see PromptTemplate)."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the prompt a name.")
    check_length(description, LONG_TEXT_MAX, what="The description")
    try:
        with transaction.atomic():
            template = PromptTemplate.objects.create(project=project, name=name, description=description,
                                                     purpose=purpose, created_by=user)
    except IntegrityError:
        raise ApplicationError(f"This project already has a prompt called '{name}'.") from None
    prompt_version_create(template=template, user=user, **version_fields)
    return template


@transaction.atomic
def prompt_version_create(*, template: PromptTemplate, style: str = PromptStyle.PLAIN, system: str = "",
                          user_template: str = "{text}", examples: list | None = None, example_records=(),
                          note: str = "", user=None) -> PromptVersion:
    """Save an edit as the next version; versions are never changed afterwards.

    Few-shot examples come either as `examples` ([{"text", "answer"}]) or as records whose
    text and expected answer are copied in now, so later edits to a record never change it.
    """
    check_length(system, LONG_TEXT_MAX, what="The system message")
    check_length(user_template, LONG_TEXT_MAX, what="The user message")
    if "{text}" not in user_template:
        raise ApplicationError("The user message must contain {text}, where the record's text goes.")
    problems = examples_problems(template.project, examples or [])
    if problems:
        raise ApplicationError(problems[0])
    frozen = [{"text": e["text"], "answer": e["answer"]} for e in examples or []]
    frozen += [_example_from(template.project, record) for record in example_records]
    if style == PromptStyle.FEW_SHOT and not frozen:
        raise ApplicationError("A few-shot prompt needs at least one example.")
    PromptTemplate.objects.select_for_update().filter(id=template.id).first()
    number = (template.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    version = PromptVersion.objects.create(template=template, number=number, style=style, system=system,
                                           user_template=user_template, examples=frozen, note=note, created_by=user)
    audit_record("prompt.version_saved", project=template.project, target=version, actor=user,
                 details={"prompt": template.name, "number": number})
    return version


def examples_problems(project, examples, *, line_numbers: list[int] | None = None) -> list[str]:
    """What is wrong with few-shot examples: a list of {"text": str, "answer": a valid answer} (form and API alike).

    The form passes the line each example was typed on, so its messages name lines.
    """
    if not isinstance(examples, list):
        return ['Few-shot examples are a list of {"text", "answer"} objects.']
    if len(examples) > MAX_EXAMPLES:
        return [f"A prompt holds at most {MAX_EXAMPLES} few-shot examples."]
    problems = []
    for index, example in enumerate(examples):
        name = f"Example line {line_numbers[index]}" if line_numbers else f"Example {index + 1}"
        if not isinstance(example, dict) or not isinstance(example.get("text"), str) or "answer" not in example:
            problems.append(f'{name} needs "text" and "answer".')
            continue
        answer_problem = answer_problems(project, example["answer"], text=example["text"])
        if answer_problem:
            problems.append(f"{name}: {answer_problem[0]}.")
    return problems


def _example_from(project, record) -> dict:
    answer = kind_for(project).expected_answer(record)
    if answer is None:
        raise ApplicationError(f"Record #{record.position} has no expected answer to show as an example.")
    return {"text": record.text, "answer": answer}
