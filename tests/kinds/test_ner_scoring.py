"""NER answers are scored by where their entities are in the text, and what is valid in them still counts."""

import pytest

from apps.evals.scoring import score_answer
from tests.factories import NerProjectFactory


@pytest.fixture
def contracts(db):
    return NerProjectFactory(entity_types=["PARTY", "DATE"], f1_threshold=0.5)


def test_an_answer_with_an_entity_not_in_the_text_keeps_its_right_entities(contracts):
    text = "Acme signed on May 1"
    expected = {"entities": [{"text": "Acme", "type": "PARTY"}, {"text": "May 1", "type": "DATE"}]}
    answer = {"entities": [{"text": "Acme", "type": "PARTY"}, {"text": "May 1", "type": "DATE"},
                           {"text": "Globex", "type": "PARTY"}]}
    # invalid (Globex is not in the text), yet scored: tp 2, fp 1, fn 0 -> P 2/3, R 1, F1 0.8
    score = score_answer(contracts, expected, answer, valid=False, text=text)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (2, 1, 0)
    assert score.score == pytest.approx(0.8) and score.passed is True


def test_an_unknown_type_is_a_false_positive_not_a_void_answer(contracts):
    text = "Acme signed on May 1"
    expected = {"entities": [{"text": "Acme", "type": "PARTY"}]}
    answer = {"entities": [{"text": "Acme", "type": "PARTY"}, {"text": "May", "type": "MONTH"}]}
    score = score_answer(contracts, expected, answer, valid=False, text=text)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (1, 1, 0)


def test_a_non_answer_misses_every_entity(contracts):
    score = score_answer(contracts, {"entities": [{"text": "Acme", "type": "PARTY"}]}, None, valid=False,
                         text="Acme signed")
    assert (score.true_positives, score.false_positives, score.false_negatives, score.passed) == (0, 0, 1, False)
