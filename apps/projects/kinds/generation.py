"""Generation: free text answers, graded by people or a judge model."""


def record_problems(project, *, text: str, label: str, entities) -> list[str]:
    problems = []
    if label:
        problems.append("a label is only for classification projects; this is a generation project")
    if entities:
        problems.append("entities are only for NER projects; this is a generation project")
    return problems


def answer_properties(project) -> dict:
    return {"answer": {"type": "string"}}


def answer_instruction(project) -> str:
    return 'Answer with JSON only, in the form {"answer": "<your answer>"}.'


def answer_problems(project, answer: dict, *, text: str) -> list[str]:
    return [] if isinstance(answer.get("answer"), str) else ["the answer has no 'answer' text"]


def answer_summary(answer) -> str:
    value = (answer or {}).get("answer", "") if isinstance(answer, dict) else ""
    return value[:80]


def answer_categories(answer) -> list[str]:
    """Free text has no categories to compare."""
    return []


def expected_answer(record) -> dict | None:
    return None
