"""The three built-in kinds behind the protocol, against hand-written answers."""

import json

import pytest

from apps.projects import kinds
from apps.projects.kinds import AnswerCheck, answer_key, same_answer
from tests.factories import NerProjectFactory, ProjectFactory


@pytest.fixture
def router(db):
    return ProjectFactory(labels=["billing", "technical"])


@pytest.fixture
def contracts(db):
    return NerProjectFactory(entity_types=["PARTY", "DATE"], f1_threshold=1.0)


def test_reasoning_is_left_out_of_comparison_in_one_place(router, contracts):
    assert kinds.strip_reasoning({"label": "billing", "reasoning": "x"}) == {"label": "billing"}
    assert same_answer(router, {"label": "billing", "reasoning": "a"}, {"label": "billing", "reasoning": "b"})
    assert not same_answer(router, {"label": "billing"}, {"label": "technical"})
    a = {"entities": [{"text": "Acme  Corp", "type": "PARTY", "start": 0, "end": 10},
                      {"text": "May 1", "type": "DATE"}]}
    b = {"entities": [{"text": "May 1", "type": "DATE"}, {"text": "Acme Corp", "type": "PARTY"}]}
    assert same_answer(contracts, a, b)  # order, offsets and spacing aside


def test_scores_per_kind(router, contracts):
    assert router.kind.score(router, {"label": "billing"}, {"label": "billing"}, valid=True).passed is True
    assert router.kind.score(router, {"label": "billing"}, {"label": "billing"}, valid=False).passed is False
    expected = {"entities": [{"text": "Acme", "type": "PARTY"}, {"text": "May 1", "type": "DATE"}]}
    half = contracts.kind.score(contracts, expected, {"entities": [{"text": "Acme", "type": "PARTY"}]}, valid=True)
    # tp 1, fp 0, fn 1: precision 1, recall 1/2, F1 2/3 < the threshold of 1.0
    assert (half.passed, half.true_positives, half.false_negatives) == (False, 1, 1)
    assert half.score == pytest.approx(2 / 3)


def test_keys_of_valid_answers_agree_and_invalid_ones_never_do(router):
    assert answer_key(router, {"label": "billing"}, valid=True) == answer_key(
        router, {"label": "billing", "reasoning": "why"}, valid=True)
    assert answer_key(router, None, valid=False) != answer_key(router, None, valid=False)
    assert kinds.is_invalid_key(answer_key(router, None, valid=False))


def test_a_bare_label_is_read_as_the_answer(router, llm_server, remote_model):
    from apps.llm.client import complete

    llm_server.answer = lambda body: "technical."
    completion = complete(remote_model, [{"role": "user", "content": "x"}], schema=kinds.answer_schema(router),
                          validate=AnswerCheck(router, text="The app crashes"))
    assert completion.valid and completion.answer == {"label": "technical"}
    llm_server.answer = lambda body: "It is technical, I think"
    completion = complete(remote_model, [{"role": "user", "content": "x"}], schema=kinds.answer_schema(router),
                          validate=AnswerCheck(router, text="The app crashes"))
    assert not completion.valid and completion.problems == ["the answer is not JSON"]


def test_form_fields_clean_to_answers(router, contracts):
    label = router.kind.form_field(router, required=True)
    assert label.clean("billing") == {"label": "billing"}
    assert label.clean(json.dumps({"label": "technical"})) == {"label": "technical"}  # a script's JSON still works
    assert label.prepare_value({"label": "billing"}) == "billing"
    rows = contracts.kind.form_field(contracts, required=False)
    assert rows.clean([]) is None  # an optional answer left empty
    assert rows.clean([{"text": "Acme", "type": "PARTY"}]) == {"entities": [{"text": "Acme", "type": "PARTY"}]}


def test_an_unknown_kind_is_refused_when_a_project_is_made(db):
    from apps.core.exceptions import ApplicationError
    from apps.projects.services import project_create
    from tests.factories import UserFactory

    with pytest.raises(ApplicationError, match="Unknown task kind"):
        project_create(user=UserFactory(), name="X", task_kind="ranking")
    with pytest.raises(ApplicationError, match="at least two labels"):
        project_create(user=UserFactory(), name="X", task_kind="classification", labels=["one"])
