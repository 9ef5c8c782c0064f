"""An eval's results per label (classification) and per entity type (NER), on its page, in the API and CSV,
each compared with scikit-learn or seqeval on the eval's own outputs."""

import csv
import io
import json

import pytest
from django.urls import reverse
from seqeval import metrics as seqeval
from sklearn import metrics as sklearn

from apps.evals.label_metrics import INVALID
from apps.evals.label_results import label_results
from apps.llm.models import Model
from apps.prompts.services import prompt_create
from apps.review.services import point_create
from apps.review.services import test_case_create as add_test_case
from tests.conftest import api_as, login
from tests.evals.conftest import run_eval, scripted
from tests.factories import MembershipFactory, NerProjectFactory

LABELS = ["billing", "technical", "escalation"]


@pytest.fixture
def classified(project, prompt_version, remote_model, cases, llm_server, django_capture_on_commit_callbacks):
    llm_server.answer = scripted({
        "Please hold my account": ["escalation", "billing"], "Pause my account for a month": ["billing"],
        "Put my deliveries on hold": ["escalation", "nonsense"], "Hold everything while I travel": ["technical"],
        "Where is my credit for the outage": ["technical"], "The outage credit never came": ["billing", "technical"],
    })
    return run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=2,
                    repair=False)


def truth_and_answers(eval_run, point=None):
    outputs = eval_run.outputs.select_related("test_case").order_by("id")
    if point is not None:
        outputs = outputs.filter(test_case__points=point)
    y_true = [o.test_case.expected["label"] for o in outputs]
    y_pred = [o.answer["label"] if o.status == "ok" else INVALID for o in outputs]
    return y_true, y_pred


def test_per_label_results_and_the_confusion_equal_scikit_learn_on_every_output(classified, points, people):
    data = api_as(people["reviewer"]).get(reverse("api-eval", args=[classified.id])).json()
    for point in (None, points["hold"], points["credit"]):
        y_true, y_pred = truth_and_answers(classified, point)
        labels = next(r for r in data["labels"] if r["point"] == (point and point.id))
        names = [row["label"] for row in labels["rows"]]
        p, r, f, s = sklearn.precision_recall_fscore_support(y_true, y_pred, labels=names, zero_division=0)
        assert [x[key] for x in labels["rows"] for key in ("precision", "recall", "f1", "support")] == pytest.approx(
            [float(v) for row in zip(p, r, f, s, strict=True) for v in row])
        assert labels["macro_f1"] == pytest.approx(sklearn.f1_score(y_true, y_pred, labels=names, average="macro"))
        assert labels["micro_f1"] == pytest.approx(sklearn.f1_score(y_true, y_pred, labels=names, average="micro"))
        confusion = next(c for c in data["confusion"] if c["point"] == (point and point.id))
        assert confusion["answered"] == [*names, "invalid"]
        assert confusion["matrix"] == sklearn.confusion_matrix(
            y_true, y_pred, labels=[*names, INVALID])[:len(names)].tolist()
    overall = data["labels"][0]
    assert overall["point"] is None and sum(row["support"] for row in overall["rows"]) == 12  # every repeat


def test_the_breakdown_takes_a_few_grouped_queries(classified, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        label_results(classified)


def test_the_page_shows_the_confusion_and_each_cell_opens_its_answers(classified, people):
    client = login(people["reviewer"])
    page = client.get(reverse("evals:detail", args=[classified.id])).content.decode()
    assert "Results per label" in page and "Expected ↓ · answered →" in page
    assert "each repeat of a test case as one" in page
    cell = "?expected=escalation&amp;answered=technical#outputs"
    assert cell in page
    filtered = client.get(reverse("evals:detail", args=[classified.id]),
                          {"expected": "escalation", "answered": "technical"})
    shown = [o.test_case.text for o in filtered.context["page"].object_list]
    assert shown == ["Hold everything while I travel"] * 2
    invalid = client.get(reverse("evals:detail", args=[classified.id]), {"expected": "escalation",
                                                                        "answered": INVALID})
    assert [(o.test_case.text, o.status) for o in invalid.context["page"].object_list] == [
        ("Put my deliveries on hold", "invalid")]


def test_the_labels_csv_has_each_label_and_the_confusion(classified, people):
    response = login(people["reviewer"]).get(reverse("evals:export", args=[classified.id, "labels"]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["training point", "label", "precision", "recall", "f1", "support"]
    assert ["All test cases", "escalation", "1.0", "0.25", "0.4", "8"] in rows
    assert ["All test cases", "expected \\ answered", "billing", "technical", "escalation", "invalid"] in rows
    assert ["All test cases", "escalation", "3", "2", "2", "1"] in rows


# --- NER -----------------------------------------------------------------------------------

SENTENCES = [  # tokens, gold tags, the model's answer (entities by text)
    ("Rotor Volgograd beat Spartak and Rotor won", "B-ORG I-ORG O B-ORG O B-ORG O",
     [("Rotor", "ORG"), ("Spartak", "ORG")]),
    ("Jane Doe joined Initech in Moscow", "B-PER I-PER O B-ORG O B-LOC",
     [("Jane Doe", "PER"), ("Initech", "LOC"), ("Madrid", "LOC")]),
    ("Smith scored for Leeds", "B-PER O O B-ORG", [("Smith", "PER"), ("Leeds", "ORG")]),
]
PREDICTED_TAGS = ["B-ORG O O B-ORG O O O", "B-PER I-PER O B-LOC O O", "B-PER O O B-ORG"]


@pytest.fixture
def ner_eval(people, llm_server, django_capture_on_commit_callbacks):
    project = NerProjectFactory(entity_types=["PER", "ORG", "LOC"], f1_threshold=0.6)
    MembershipFactory(project=project, user=people["reviewer"], role="reviewer")
    point = point_create(project=project, name="sport")
    answers = {}
    for tokens, gold, said in SENTENCES:
        words, tags = tokens.split(), gold.split()
        entities = []
        for index, tag in enumerate(tags):
            if tag.startswith("B-"):
                end = index + 1
                while end < len(words) and tags[end] == "I-" + tag[2:]:
                    end += 1
                entities.append({"text": " ".join(words[index:end]), "type": tag[2:]})
        add_test_case(project=project, text=tokens, points=[point], expected={"entities": entities})
        answers[tokens] = json.dumps({"entities": [{"text": t, "type": k} for t, k in said]})
    model = Model.objects.create(project=project, name="NER", base_url=llm_server.base_url, model_id="x",
                                 max_retries=0)
    version = prompt_create(project=project, name="Extract", system="Find {entity_types}.",
                            user_template="{text}").versions.get()
    llm_server.answer = lambda body: next(said for text, said in answers.items()
                                          if text in body["messages"][-1]["content"])
    return run_eval(project, model, version, django_capture_on_commit_callbacks, repeats=1, repair=False)


def test_ner_results_per_entity_type_equal_seqeval_and_count_the_span_errors(ner_eval, people):
    y_true = [[*gold.split()] for _, gold, _ in SENTENCES]
    y_pred = [tags.split() for tags in PREDICTED_TAGS]
    data = api_as(people["reviewer"]).get(reverse("api-eval", args=[ner_eval.id])).json()
    overall = data["labels"][0]
    theirs = seqeval.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    # Madrid is not in the text: a false positive of LOC that no tag sequence can hold
    madrid_fp = {"LOC": 1}
    for row in overall["rows"]:
        tp = theirs[row["label"]]["recall"] * theirs[row["label"]]["support"]
        predicted = round(tp / theirs[row["label"]]["precision"]) if theirs[row["label"]]["precision"] else 0
        predicted += madrid_fp.get(row["label"], 0)
        assert row["support"] == theirs[row["label"]]["support"]
        assert row["recall"] == pytest.approx(theirs[row["label"]]["recall"])
        assert row["precision"] == pytest.approx(tp / predicted if predicted else 0.0)
    assert overall["errors"] == {"missed": 2, "spurious": 1, "wrong type": 1, "wrong boundary": 1}
    assert data["confusion"] == []
    # micro F1 stored with the results is the pooled counts' (tp 4, fp 3 with Madrid, fn 4)
    result = ner_eval.results.get(point=None)
    assert result.f1_micro == pytest.approx(overall["micro_f1"]) == pytest.approx(2 * 4 / (2 * 4 + 3 + 4))


def test_ner_scores_equal_seqeval_when_every_entity_is_in_the_text(ner_eval):
    # the sentences without an entity missing from the text: the answers' F1s are seqeval's, sentence by sentence
    first, _, third = ner_eval.outputs.order_by("test_case_id")
    assert first.score == pytest.approx(seqeval.f1_score([SENTENCES[0][1].split()], [PREDICTED_TAGS[0].split()]))
    assert first.score == pytest.approx(0.4)
    assert third.score == pytest.approx(1.0)


def test_the_ner_page_names_the_mean_per_test_case_and_shows_types(ner_eval, people):
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[ner_eval.id])).content.decode()
    assert "F1 micro / mean per test case" in page and "Results per entity type" in page
    assert "wrong boundary <strong>1</strong>" in page
