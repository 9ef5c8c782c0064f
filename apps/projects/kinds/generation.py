"""Generation: free text answers, graded by people or a judge model."""


def record_problems(project, *, text: str, label: str, entities) -> list[str]:
    problems = []
    if label:
        problems.append("a label is only for classification projects; this is a generation project")
    if entities:
        problems.append("entities are only for NER projects; this is a generation project")
    return problems
