"""Per-label and per-entity-type measures, each compared with scikit-learn or seqeval on the same answers."""

from collections import Counter

import pytest
from seqeval import metrics as seqeval
from sklearn import metrics as sklearn

from apps.evals import label_metrics
from apps.evals.label_metrics import INVALID, SpanTally
from apps.projects.kinds.ner import span_match, span_score, spans_from_tokens

# --- classification ------------------------------------------------------------------------

EXPECTED = ["billing", "billing", "billing", "technical", "technical", "escalation", "escalation", "escalation",
            "escalation", "technical", "billing", "escalation"]
ANSWERED = ["billing", "technical", None, "technical", "billing", "escalation", "escalation", "technical",
            None, "technical", "billing", "billing"]  # None: a non-answer


def confusion_of(expected, answered) -> dict:
    return dict(Counter((e, a if a is not None else INVALID) for e, a in zip(expected, answered, strict=True)))


def test_per_label_precision_recall_f1_and_support_equal_scikit_learns():
    confusion = confusion_of(EXPECTED, ANSWERED)
    labels = label_metrics.confusion_labels(confusion, ["billing", "technical", "escalation"])
    report = label_metrics.label_report(confusion, labels)
    y_pred = [a if a is not None else INVALID for a in ANSWERED]
    p, r, f, s = sklearn.precision_recall_fscore_support(EXPECTED, y_pred, labels=labels, zero_division=0)
    assert [row.precision for row in report.rows] == pytest.approx(list(p))
    assert [row.recall for row in report.rows] == pytest.approx(list(r))
    assert [row.f1 for row in report.rows] == pytest.approx(list(f))
    assert [row.support for row in report.rows] == list(s)
    sk_report = sklearn.classification_report(EXPECTED, y_pred, labels=labels, output_dict=True, zero_division=0)
    assert report.macro_f1 == pytest.approx(sk_report["macro avg"]["f1-score"])
    assert report.micro.f1 == pytest.approx(sklearn.f1_score(EXPECTED, y_pred, labels=labels, average="micro"))
    assert report.micro.precision == pytest.approx(sk_report["micro avg"]["precision"])
    assert report.micro.recall == pytest.approx(sk_report["micro avg"]["recall"])


def test_the_confusion_matrix_equals_scikit_learns_with_non_answers_last():
    confusion = confusion_of(EXPECTED, ANSWERED)
    labels = label_metrics.confusion_labels(confusion, ["billing", "technical", "escalation"])
    y_pred = [a if a is not None else INVALID for a in ANSWERED]
    matrix = sklearn.confusion_matrix(EXPECTED, y_pred, labels=[*labels, INVALID])
    assert label_metrics.confusion_matrix(confusion, labels) == matrix[:len(labels)].tolist()
    assert label_metrics.confusion_matrix(confusion, labels)[2] == [1, 1, 2, 1]  # escalation: one non-answer


def test_a_label_answered_but_never_expected_has_a_row_and_scikit_learns_zeros():
    expected, answered = ["billing", "billing"], ["billing", "technical"]
    confusion = confusion_of(expected, answered)
    labels = label_metrics.confusion_labels(confusion, ["billing", "technical", "escalation"])
    assert labels == ["billing", "technical"]  # escalation is neither expected nor answered
    report = label_metrics.label_report(confusion, labels)
    p, r, f, s = sklearn.precision_recall_fscore_support(expected, answered, labels=labels, zero_division=0)
    assert [v for x in report.rows for v in (x.precision, x.recall, x.f1, x.support)] == pytest.approx(
        [float(v) for row in zip(p, r, f, s, strict=True) for v in row])
    assert report.macro_f1 == pytest.approx(sklearn.f1_score(expected, answered, average="macro"))


# --- NER -----------------------------------------------------------------------------------

def sentence(tokens: str, gold: str, predicted: str, *, offsets: bool = False):
    """Text, expected answer and predicted answer from tokens and two BIO tag sequences (space-separated).

    The expected answer names entities by text only, as test cases store them; the predicted one too unless
    `offsets`."""
    words, gold_tags, predicted_tags = tokens.split(), gold.split(), predicted.split()
    text, gold_spans = spans_from_tokens(list(zip(words, gold_tags, strict=True)))
    _, predicted_spans = spans_from_tokens(list(zip(words, predicted_tags, strict=True)))
    return text, answer(text, gold_spans), answer(text, predicted_spans, offsets=offsets), gold_tags, predicted_tags


def answer(text: str, spans: list[dict], *, offsets: bool = False) -> dict:
    return {"entities": [{"text": text[s["start"]:s["end"]], "type": s["type"],
                          **({"start": s["start"], "end": s["end"]} if offsets else {})} for s in spans]}


SENTENCES = [
    # all right
    ("Acme Corp signed on May 1", "B-ORG I-ORG O O B-DATE I-DATE", "B-ORG I-ORG O O B-DATE I-DATE"),
    # wrong boundary, wrong type
    ("Acme Corp paid Globex on June 3", "B-ORG I-ORG O B-ORG O B-DATE I-DATE", "B-ORG O O B-PER O B-DATE I-DATE"),
    # a miss and a spurious entity
    ("Jane Doe joined Initech today", "B-PER I-PER O B-ORG O", "B-PER I-PER O O B-DATE"),
    # nothing expected, something found
    ("It rained all week", "O O O O", "O B-ORG O O"),
    # nothing expected, nothing found
    ("Nothing here", "O O", "O O"),
]


def test_per_type_micro_and_macro_equal_seqeval():
    tally, y_true, y_pred = SpanTally(), [], []
    for tokens, gold, predicted in SENTENCES:
        text, expected, found, gold_tags, predicted_tags = sentence(tokens, gold, predicted)
        tally.add(span_match(expected, found, text))
        y_true.append(gold_tags)
        y_pred.append(predicted_tags)
    report = tally.report(["ORG", "PER", "DATE"])
    theirs = seqeval.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    assert sorted(r.label for r in report.rows) == sorted(k for k in theirs if not k.endswith(" avg"))
    for row in report.rows:
        assert (row.precision, row.recall, row.f1) == pytest.approx(
            (theirs[row.label]["precision"], theirs[row.label]["recall"], theirs[row.label]["f1-score"]))
        assert row.support == theirs[row.label]["support"]
    assert report.micro.f1 == pytest.approx(seqeval.f1_score(y_true, y_pred))
    assert report.micro.precision == pytest.approx(seqeval.precision_score(y_true, y_pred))
    assert report.micro.recall == pytest.approx(seqeval.recall_score(y_true, y_pred))
    assert report.macro_f1 == pytest.approx(seqeval.f1_score(y_true, y_pred, average="macro", zero_division=0))
    # the errors: Acme (boundary), Globex (type), Initech (missed), "today" and "rained" (spurious)
    assert report.errors == {"missed": 1, "spurious": 2, "wrong type": 1, "wrong boundary": 1}


@pytest.mark.parametrize("tokens, gold, predicted, offsets, theirs, old", [
    # "Rotor" predicted inside "Rotor Volgograd" while the real "Rotor" later is missed
    ("Rotor Volgograd beat Spartak and Rotor won", "B-ORG I-ORG O B-ORG O B-ORG O",
     "B-ORG O O B-ORG O O O", False, 0.40, 0.80),
    # an entity listed twice (at its first place) with its second occurrence missed
    ("Jones passed to Jones and Smith of Leeds scored", "B-PER O O B-PER O B-PER O B-ORG O",
     "B-PER O O O O B-PER O B-ORG O", True, 6 / 7, 1.0),
])
def test_the_issues_two_cases_score_as_seqeval_does(tokens, gold, predicted, offsets, theirs, old):
    text, expected, found, gold_tags, predicted_tags = sentence(tokens, gold, predicted, offsets=offsets)
    if offsets:  # the model names "Jones" twice, both times at its first place
        found["entities"].insert(1, dict(found["entities"][0]))
    assert seqeval.f1_score([gold_tags], [predicted_tags]) == pytest.approx(theirs, abs=1e-3)
    assert span_score(expected, found, text=text).f1 == pytest.approx(theirs, abs=1e-3)
    assert span_score(expected, found).f1 == pytest.approx(old)  # matching by text alone, as before


def test_entities_not_in_the_text_or_of_unknown_type_are_false_positives_and_the_rest_still_count():
    text = "Acme Corp signed on May 1"
    expected = {"entities": [{"text": "Acme Corp", "type": "ORG"}, {"text": "May 1", "type": "DATE"}]}
    found = {"entities": [{"text": "Acme Corp", "type": "ORG"}, {"text": "Globex", "type": "ORG"},
                          {"text": "May 1", "type": "TIME"}, "junk"]}
    score = span_score(expected, found, text=text)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (1, 3, 1)
    tally = SpanTally()
    tally.add(span_match(expected, found, text))
    assert tally.report(["ORG", "DATE"]).errors == {"missed": 0, "spurious": 2, "wrong type": 1,
                                                   "wrong boundary": 0}


def test_a_repeated_text_takes_the_next_occurrence_and_one_too_many_is_a_false_positive():
    text = "Acme sued Acme"
    expected = {"entities": [{"text": "Acme", "type": "ORG"}, {"text": "Acme", "type": "ORG"}]}
    assert span_score(expected, expected, text=text).f1 == 1.0
    thrice = {"entities": expected["entities"] * 2}
    score = span_score(expected, {"entities": thrice["entities"][:3]}, text=text)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (2, 1, 0)
