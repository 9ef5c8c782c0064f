import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import JobStatus
from apps.datasets.models import DatasetImport, Record
from tests.conftest import htmx_as, login
from tests.factories import DatasetFactory, NerProjectFactory, RecordFactory


def test_upload_page_imports_a_small_csv_at_once(people, dataset):
    upload = SimpleUploadedFile("t.csv", b"text,label\nInvoice twice,billing\n")
    response = login(people["lead"]).post(reverse("datasets:import", args=[dataset.id]), {"file": upload})
    assert response.status_code == 302 and response.url == reverse("datasets:detail", args=[dataset.id])
    assert dataset.records.filter(text="Invoice twice").exists()


def test_upload_page_shows_each_problem_with_its_line(people, dataset):
    upload = SimpleUploadedFile("t.jsonl", b'{"text": "ok", "label": "billing"}\n{"text": "x", "label": "zzz"}\n')
    response = login(people["lead"]).post(reverse("datasets:import", args=[dataset.id]), {"file": upload})
    assert response.status_code == 200
    assert "Line 2: unknown label &#x27;zzz&#x27;" in response.content.decode()
    assert dataset.records.count() == 3


def test_upload_without_a_known_extension_asks_for_the_format(people, dataset):
    upload = SimpleUploadedFile("tickets.txt", b"text\nhello\n")
    response = login(people["lead"]).post(reverse("datasets:import", args=[dataset.id]), {"file": upload})
    assert "Choose the file&#x27;s format" in response.content.decode()


def test_large_upload_goes_to_a_job_and_shows_progress(people, dataset, settings, django_capture_on_commit_callbacks):
    settings.TASKLLM_IMPORT_INLINE_MAX_BYTES = 10
    settings.CELERY_TASK_ALWAYS_EAGER = True
    upload = SimpleUploadedFile("t.csv", b"text,label\nInvoice twice,billing\nCrash,technical\n")
    client = login(people["lead"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("datasets:import", args=[dataset.id]), {"file": upload})
    dataset_import = DatasetImport.objects.get(dataset=dataset, original_name="t.csv")
    assert response.url == reverse("datasets:import_detail", args=[dataset_import.id])
    page = client.get(response.url).content.decode()
    assert "Waiting for a worker" in page and "<progress" in page
    assert len(callbacks) == 1


def test_import_status_partial_stops_polling_when_finished(people, dataset):
    dataset_import = DatasetImport.objects.create(dataset=dataset, original_name="a.csv", format="csv",
                                                  status=JobStatus.SUCCEEDED, records_imported=7)
    response = htmx_as(people["reviewer"]).get(reverse("datasets:import_detail", args=[dataset_import.id]))
    assert response.status_code == 286
    assert "Imported 7 records" in response.content.decode()


def test_records_page_paginates_and_searches(people, project):
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(60, dataset=dataset, label="technical")
    RecordFactory(dataset=dataset, text="Needle in the haystack", label="billing")
    client = login(people["reviewer"])
    page = client.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert "61 records" in page and "Page 1 of 2" in page
    found = client.get(reverse("datasets:detail", args=[dataset.id]), {"q": "needle"}).content.decode()
    assert "Needle in the haystack" in found and "1 record match" in found
    by_label = client.get(reverse("datasets:detail", args=[dataset.id]), {"label": "billing"}).content.decode()
    assert "1 record match" in by_label


def test_records_filter_returns_only_the_table_to_htmx(people, dataset):
    client = htmx_as(people["reviewer"], target="records")
    response = client.get(reverse("datasets:detail", args=[dataset.id]), {"q": "Ticket"})
    html = response.content.decode()
    assert "<table" in html and "<html" not in html


def test_random_split_puts_the_share_in_test(people, project):
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(10, dataset=dataset)
    login(people["lead"]).post(reverse("datasets:split", args=[dataset.id]),
                               {"mode": "random", "test_percent": "30", "seed": "4"})
    assert dataset.records.filter(split="test").count() == 3
    assert dataset.records.filter(split="train").count() == 7


def test_set_split_applies_to_filtered_records_only(people, project):
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(4, dataset=dataset, label="technical")
    RecordFactory.create_batch(2, dataset=dataset, label="billing")
    login(people["lead"]).post(reverse("datasets:split", args=[dataset.id]),
                               {"mode": "set", "target": "test", "label": "billing"})
    assert set(dataset.records.filter(split="test").values_list("label", flat=True)) == {"billing"}
    assert dataset.records.filter(split="test").count() == 2


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_export_csv_streams_records_with_metadata_columns(people, project):
    dataset = DatasetFactory(project=project)
    RecordFactory(dataset=dataset, text='Say "hi", twice', label="billing", split="test", metadata={"customer": "a"})
    response = login(people["reviewer"]).get(reverse("datasets:export", args=[dataset.id]), {"format": "csv"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(_body(response))))
    assert rows == [["text", "label", "split", "customer"], ['Say "hi", twice', "billing", "test", "a"]]


def test_export_jsonl_round_trips_through_import(people, project):
    dataset = DatasetFactory(project=project)
    RecordFactory(dataset=dataset, text="one", label="billing", split="train", metadata={"k": 1})
    body = _body(login(people["reviewer"]).get(reverse("datasets:export", args=[dataset.id]), {"format": "jsonl"}))
    assert json.loads(body) == {"text": "one", "label": "billing", "split": "train", "metadata": {"k": 1}}
    copy = DatasetFactory(project=project)
    upload = SimpleUploadedFile("copy.jsonl", body.encode())
    login(people["lead"]).post(reverse("datasets:import", args=[copy.id]), {"file": upload})
    record = Record.objects.get(dataset=copy)
    assert (record.text, record.label, record.split, record.metadata) == ("one", "billing", "train", {"k": 1})


def test_export_conll_tags_tokens(people):
    project = NerProjectFactory()
    from apps.accounts.models import Membership
    Membership.objects.create(project=project, user=people["reviewer"], role="reviewer")
    dataset = DatasetFactory(project=project)
    RecordFactory(dataset=dataset, text="Acme Corp signed", label="",
                  entities=[{"start": 0, "end": 9, "type": "PARTY"}])
    body = _body(login(people["reviewer"]).get(reverse("datasets:export", args=[dataset.id]), {"format": "conll"}))
    assert body == "Acme\tB-PARTY\nCorp\tI-PARTY\nsigned\tO\n\n"


@pytest.mark.parametrize("fmt", ["conll", "xml"])
def test_export_refuses_formats_the_project_cannot_use(people, dataset, fmt):
    response = login(people["reviewer"]).get(reverse("datasets:export", args=[dataset.id]), {"format": fmt})
    assert response.status_code == 400  # issue 12: an unknown export format is the client's mistake


def test_empty_dataset_says_what_to_do_next(people, project):
    dataset = DatasetFactory(project=project)
    page = login(people["lead"]).get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert "This dataset is empty" in page and "Upload a CSV, JSONL or CoNLL file" in page


def test_upload_page_offers_the_files_columns_when_the_label_column_is_missing(people, dataset):
    upload = SimpleUploadedFile("intents.csv", b"utterance,category\nI lost my card,billing\n")
    response = login(people["lead"]).post(reverse("datasets:import", args=[dataset.id]),
                                          {"file": upload, "text_column": "utterance"})
    page = response.content.decode()
    assert response.status_code == 200 and "no &#x27;label&#x27; column" in page
    assert '<option value="category" selected>category</option>' in page
    assert '<option value="utterance" selected>utterance</option>' in page
    assert dataset.records.count() == 3


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256)) * 4


def test_a_binary_upload_is_rejected_in_words_not_bytes(people, dataset):
    from tests.conftest import api_as

    client = login(people["lead"])
    page = client.post(reverse("datasets:import", args=[dataset.id]),
                       {"file": SimpleUploadedFile("tickets.csv", PNG)}).content.decode()
    assert "This file is not text (it looks like a PNG image); upload a UTF-8 CSV, JSONL or CoNLL file." in page
    assert "not valid UTF-8" not in page and "byte 0x" not in page
    zipped = api_as(people["lead"]).post(reverse("api-imports", args=[dataset.id]),
                                         {"file": SimpleUploadedFile("t.jsonl", b"PK\x03\x04" + b"\x00" * 64)},
                                         format="multipart")
    assert zipped.status_code == 400 and "it looks like a zip archive" in zipped.json()["detail"]
    noise = client.post(reverse("datasets:import", args=[dataset.id]),
                        {"file": SimpleUploadedFile("t.csv", b"text\n\x00\x01\x02\x03 junk\n")}).content.decode()
    assert "it looks like binary data" in noise and dataset.records.count() == 3


def test_bulk_actions_on_ticked_records_ask_first_then_act(people, project, dataset):
    from apps.review.models import TestCase
    from apps.review.services import training_example_create

    first, second, third = dataset.records.order_by("position")
    training_example_create(project=project, messages=[], answer={"label": "billing"}, text=third.text)
    client = login(people["lead"])
    page = client.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert 'aria-label="Select all on this page"' in page and f'name="record" value="{first.id}"' in page
    assert 'name="record"' not in login(people["reviewer"]).get(
        reverse("datasets:detail", args=[dataset.id])).content.decode()

    ask = client.post(reverse("datasets:records_delete", args=[dataset.id]), {"record": [first.id, second.id]})
    assert "Delete 2 records?" in ask.content.decode() and first.text in ask.content.decode()
    assert dataset.records.count() == 3  # nothing happens before the confirmation
    done = client.post(reverse("datasets:records_delete", args=[dataset.id]),
                       {"record": [first.id], "confirm": "on"}, follow=True)
    assert "Deleted 1 record." in done.content.decode() and not Record.objects.filter(id=first.id).exists()

    client.post(reverse("datasets:records_move", args=[dataset.id]), {"record": [second.id], "split": "test"})
    assert Record.objects.get(id=second.id).split == ""
    moved = client.post(reverse("datasets:records_move", args=[dataset.id]),
                        {"record": [second.id, third.id], "split": "test", "confirm": "on"}, follow=True)
    assert "Moved 2 records to test." in moved.content.decode()
    assert set(dataset.records.values_list("split", flat=True)) == {"test"}

    url = reverse("review:records_to_test_cases", args=[dataset.id])
    assert "Make 2 test cases?" in client.post(url, {"record": [second.id, third.id]}).content.decode()
    made = client.post(url, {"record": [second.id, third.id], "confirm": "on"}, follow=True).content.decode()
    assert "Made 1 test case." in made and f"Refused 1: Record #{third.position}: This text is training example" in made
    case = TestCase.objects.get()
    assert case.record_id == second.id and case.expected == {"label": "billing"}
    again = client.post(url, {"record": [second.id], "confirm": "on"}, follow=True).content.decode()
    assert "it is already a test case" in again and TestCase.objects.count() == 1
    nothing = client.post(reverse("datasets:records_delete", args=[dataset.id]), {"confirm": "on"}, follow=True)
    assert "Tick at least one record first." in nothing.content.decode() and dataset.records.count() == 2
