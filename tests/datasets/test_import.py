"""The importers: good files go in whole, a bad file is rejected whole with each problem's line."""

import json

import pytest
from django.core.files.base import ContentFile

from apps.core.models import JobStatus
from apps.datasets.models import DatasetImport, Record
from apps.datasets.services import dataset_import_start
from tests.factories import DatasetFactory, NerProjectFactory, RecordFactory


def run_import(dataset, content: bytes | str, file_format: str, name: str = "upload", **options):
    data = content.encode() if isinstance(content, str) else content
    return dataset_import_start(dataset=dataset, upload=ContentFile(data, name=f"{name}.{file_format}"),
                                file_format=file_format, options=options)


@pytest.fixture
def ner_dataset(db):
    return DatasetFactory(project=NerProjectFactory())


def assert_rejected(dataset, result: DatasetImport, line: int, fragment: str, records_before: int):
    assert result.status == JobStatus.FAILED
    messages = [(p["line"], p["message"]) for p in result.problems]
    assert any(n == line and fragment in m for n, m in messages), messages
    assert Record.objects.filter(dataset=dataset).count() == records_before


# --- good files ----------------------------------------------------------------------------

def test_csv_imports_text_label_split_and_keeps_other_columns_as_metadata(dataset):
    before = dataset.records.count()
    result = run_import(dataset, "text,label,split,customer\nRefund please,billing,train,acme\n"
                                 '"Two\nlines",technical,,globex\n', "csv")
    assert result.status == JobStatus.SUCCEEDED and result.records_imported == 2
    new = list(dataset.records.order_by("position")[before:])
    assert [(r.text, r.label, r.split, r.metadata) for r in new] == [
        ("Refund please", "billing", "train", {"customer": "acme"}),
        ("Two\nlines", "technical", "", {"customer": "globex"}),
    ]
    assert new[0].position > 3  # appended after the dataset's existing records


def test_csv_uses_the_chosen_text_and_label_columns(dataset):
    result = run_import(dataset, "body,category\nInvoice is wrong,billing\n", "csv",
                        text_column="body", label_column="category")
    assert result.status == JobStatus.SUCCEEDED
    assert dataset.records.filter(text="Invoice is wrong", label="billing").exists()


def test_jsonl_imports_labels_and_metadata(dataset):
    lines = [{"text": "App crashes", "label": "technical", "ticket": 7}, {"text": "No label yet"}]
    result = run_import(dataset, "\n".join(json.dumps(x) for x in lines) + "\n\n", "jsonl")
    assert result.status == JobStatus.SUCCEEDED and result.records_imported == 2
    record = dataset.records.get(text="App crashes")
    assert record.label == "technical" and record.metadata == {"ticket": 7}


def test_conll_becomes_text_with_character_offset_spans(ner_dataset):
    content = "-DOCSTART- O\n\nAcme\tB-PARTY\nCorp\tI-PARTY\nsigned\tO\non\tO\nMay\tB-DATE\n1\tI-DATE\n\nHi\tO\n"
    result = run_import(ner_dataset, content, "conll")
    assert result.status == JobStatus.SUCCEEDED and result.records_imported == 2
    record = ner_dataset.records.order_by("position").first()
    assert record.text == "Acme Corp signed on May 1"
    assert record.entities == [{"start": 0, "end": 9, "type": "PARTY"}, {"start": 20, "end": 25, "type": "DATE"}]
    assert [record.text[e["start"]:e["end"]] for e in record.entities] == ["Acme Corp", "May 1"]


def test_jsonl_ner_spans_are_checked_and_kept(ner_dataset):
    line = {"text": "Acme signed", "entities": [{"start": 0, "end": 4, "type": "PARTY", "text": "Acme"}]}
    result = run_import(ner_dataset, json.dumps(line), "jsonl")
    assert result.status == JobStatus.SUCCEEDED
    assert ner_dataset.records.get().entities[0]["type"] == "PARTY"


def test_utf8_bom_is_ignored(dataset):
    result = run_import(dataset, "\ufefftext,label\nCafé bill,billing\n".encode(), "csv")
    assert result.status == JobStatus.SUCCEEDED
    assert dataset.records.filter(text="Café bill").exists()


# --- bad files: rejected whole, with the line and the reason ---------------------------------

@pytest.mark.parametrize("content, line, fragment", [
    ("text,label\nfine,billing\nbad,refunds\n", 3, "unknown label 'refunds'"),
    ("text,label\nfine,billing\n  ,billing\n", 3, "empty text"),
    ("body,label\nfine,billing\n", 1, "missing column 'text'"),
    ("text,label\nfine,billing\ntoo,many,fields\n", 3, "has 3 fields but the header has 2"),
    ("text,label,split\nfine,billing,holdout\n", 2, "unknown split 'holdout'"),
    ("", 1, "the file is empty"),
    ("text,label\n", 1, "the file holds no records"),
])
def test_bad_csv_is_rejected_with_its_line(dataset, content, line, fragment):
    before = dataset.records.count()
    assert_rejected(dataset, run_import(dataset, content, "csv"), line, fragment, before)


@pytest.mark.parametrize("content, line, fragment", [
    ('{"text": "fine", "label": "billing"}\n{"text": "oops", "label": \n', 2, "not valid JSON"),
    ('{"text": "fine"}\n["a list"]\n', 2, "must be a JSON object"),
    ('{"label": "billing"}\n', 1, "missing 'text'"),
    ('{"text": "fine"}\n\n{"text": "x", "label": "unknown"}\n', 3, "unknown label 'unknown'"),
    ('{"text": 5}\n', 1, "'text' must be a string"),
    ('{"text": ""}\n', 1, "empty text"),
    ('{"text": "x", "entities": [{"start": 0, "end": 1, "type": "A"}]}\n', 1, "only for NER projects"),
])
def test_bad_jsonl_is_rejected_with_its_line(dataset, content, line, fragment):
    before = dataset.records.count()
    assert_rejected(dataset, run_import(dataset, content, "jsonl"), line, fragment, before)


@pytest.mark.parametrize("content, line, fragment", [
    ("Acme\tB-PARTY\nsigned\tO\n\non\tO\nMay\tI-DATE\n", 5, "follows 'O'; an entity must start with B-DATE"),
    ("Acme\tB-PARTY\nCorp\tI-DATE\n", 2, "follows 'B-PARTY'"),
    ("Acme\tB-PLACE\n", 1, "unknown entity type 'PLACE'"),
    ("Acme\tB-PARTY\nsigned\n", 2, "has no tag"),
    ("Acme\tX-PARTY\n", 1, "is not BIO"),
])
def test_bad_conll_is_rejected_with_its_line(ner_dataset, content, line, fragment):
    assert_rejected(ner_dataset, run_import(ner_dataset, content, "conll"), line, fragment, 0)


@pytest.mark.parametrize("entities, fragment", [
    ([{"start": 0, "end": 99, "type": "PARTY"}], "outside the text"),
    ([{"start": 0, "end": 4, "type": "PLACE"}], "unknown entity type 'PLACE'"),
    ([{"start": 0, "end": 4, "type": "PARTY", "text": "Acm"}], "does not match"),
    ([{"start": 0, "end": 6, "type": "PARTY"}, {"start": 5, "end": 11, "type": "PARTY"}], "overlaps"),
    ("not a list", "must be a list"),
])
def test_bad_ner_spans_are_rejected(ner_dataset, entities, fragment):
    content = json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": "Acme signed", "entities": entities})
    assert_rejected(ner_dataset, run_import(ner_dataset, content, "jsonl"), 2, fragment, 0)


def test_wrong_encoding_names_the_line(dataset):
    content = b"text,label\nfine,billing\n" + "caf\xe9,billing\n".encode("latin-1")
    before = dataset.records.count()
    assert_rejected(dataset, run_import(dataset, content, "csv"), 3, "not valid UTF-8", before)


def test_conll_is_refused_for_a_classification_project(dataset):
    from apps.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="NER projects only"):
        run_import(dataset, "Acme\tO\n", "conll")


def test_only_the_first_50_problems_are_reported(dataset):
    content = "text,label\n" + "".join(f"ticket {n},nope\n" for n in range(200))
    result = run_import(dataset, content, "csv")
    assert result.status == JobStatus.FAILED
    assert len(result.problems) == 50
    assert result.problems[0] == {"line": 2, "message": "unknown label 'nope' (the project's labels are: "
                                                        "billing, technical, escalation)"}


def test_a_bad_line_after_thousands_of_good_ones_leaves_nothing(dataset, settings):
    settings.TASKLLM_IMPORT_INLINE_MAX_BYTES = 10 * 1024 * 1024
    good = "".join(json.dumps({"text": f"ticket {n}", "label": "billing"}) + "\n" for n in range(12000))
    before = dataset.records.count()
    result = run_import(dataset, good + '{"text": "last", "label": "nope"}\n', "jsonl")
    assert_rejected(dataset, result, 12001, "unknown label 'nope'", before)


def test_stored_upload_is_removed_once_the_import_ends(dataset):
    result = run_import(dataset, "text\nhello\n", "csv", no_labels=True)
    assert result.status == JobStatus.SUCCEEDED
    assert not result.file


def test_a_rerun_after_a_crash_imports_once(dataset):
    """A worker that died mid-import left the row RUNNING with no heartbeat: the re-run imports it all, once."""
    from apps.datasets.services import import_run

    RecordFactory.reset_sequence()
    dataset_import = DatasetImport.objects.create(dataset=dataset, original_name="a.csv", format="csv",
                                                  status=JobStatus.RUNNING, attempts=1)
    dataset_import.file.save("a.csv", ContentFile(b"text\none\ntwo\n"))
    before = dataset.records.count()
    result = import_run(import_id=dataset_import.id)
    assert result.status == JobStatus.SUCCEEDED and result.attempts == 2
    assert dataset.records.count() == before + 2
    assert import_run(import_id=dataset_import.id).status == JobStatus.SUCCEEDED
    assert dataset.records.count() == before + 2
