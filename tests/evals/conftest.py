"""Eval fixtures: two training points of the ticket router with held-out test cases, and scripted answers."""

import json
from collections import Counter

import pytest

from apps.evals.models import EvalRun
from apps.evals.services import eval_create, eval_execute
from apps.review.services import point_create
from apps.review.services import test_case_create as add_test_case

__all__ = ["add_test_case", "run_eval", "scripted"]


@pytest.fixture
def points(project):
    return {"hold": point_create(project=project, name="hold is a pause"),
            "credit": point_create(project=project, name="credit is an SLA credit")}


def case(project, text, label, points, group=""):
    return add_test_case(project=project, text=text, expected={"label": label}, points=points,
                            paraphrase_group=group)


@pytest.fixture
def cases(project, points):
    hold, credit = points["hold"], points["credit"]
    return [
        case(project, "Please hold my account", "escalation", [hold], group="pause"),
        case(project, "Pause my account for a month", "escalation", [hold], group="pause"),
        case(project, "Put my deliveries on hold", "escalation", [hold]),
        case(project, "Hold everything while I travel", "escalation", [hold]),
        case(project, "Where is my credit for the outage", "technical", [credit]),
        case(project, "The outage credit never came", "technical", [credit]),
    ]


def scripted(answers: dict[str, list[str]]):
    """Answer each text with its list of labels in turn (one per repeat); texts not listed get 'billing'."""
    asked = Counter()

    def answer(body):
        text = body["messages"][-1]["content"].removeprefix("Ticket: ")
        labels = answers.get(text, ["billing"])
        label = labels[asked[text] % len(labels)]
        asked[text] += 1
        return json.dumps({"label": label})

    return answer


def run_eval(project, model, prompt_version, django_capture_on_commit_callbacks, **kwargs) -> EvalRun:
    with django_capture_on_commit_callbacks(execute=False):
        eval_run = eval_create(project=project, model=model, prompt_version=prompt_version, **kwargs)
    return eval_execute(eval_id=eval_run.id)


