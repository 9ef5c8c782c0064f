"""Classification: the answer is one label from the project's label set."""


def record_problems(project, *, text: str, label: str, entities) -> list[str]:
    problems = []
    if entities:
        problems.append("entities are only for NER projects; this is a classification project")
    if label and label not in project.labels:
        if project.labels:
            known = ", ".join(project.labels[:20])
            problems.append(f"unknown label '{label}' (the project's labels are: {known})")
        else:
            problems.append(f"unknown label '{label}': the project has no labels yet; add them in its settings")
    return problems


def answer_properties(project) -> dict:
    return {"label": {"type": "string", "enum": list(project.labels)}}


def answer_instruction(project) -> str:
    return 'Answer with JSON only, in the form {"label": "<label>"}, where <label> is one of: ' + ", ".join(
        project.labels
    ) + "."


def answer_problems(project, answer: dict, *, text: str) -> list[str]:
    label = answer.get("label")
    if not isinstance(label, str):
        return ["the answer has no label"]
    if label not in project.labels:
        return [f"'{label}' is not one of the project's labels"]
    return []


def answer_summary(answer) -> str:
    return (answer or {}).get("label", "") if isinstance(answer, dict) else ""


def answer_categories(answer) -> list[str]:
    """The categories an answer falls in, for traffic distributions: its label."""
    label = answer_summary(answer)
    return [label] if label else []


def expected_answer(record) -> dict | None:
    return {"label": record.label} if record.label else None
