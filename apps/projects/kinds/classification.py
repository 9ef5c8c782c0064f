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
