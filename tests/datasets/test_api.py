import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import JobStatus
from apps.datasets.models import DatasetImport
from tests.conftest import api_as
from tests.factories import DatasetFactory, RecordFactory


def test_api_import_returns_201_with_the_count(people, dataset):
    upload = SimpleUploadedFile("t.jsonl", b'{"text": "a", "label": "billing"}\n{"text": "b"}\n')
    response = api_as(people["lead"]).post(reverse("api-imports", args=[dataset.id]), {"file": upload},
                                           format="multipart")
    assert response.status_code == 201
    assert response.json()["records_imported"] == 2 and response.json()["status"] == "SUCCEEDED"


def test_api_import_of_a_bad_file_returns_400_with_problems(people, dataset):
    upload = SimpleUploadedFile("t.csv", b"text,label\nok,billing\n,billing\n")
    response = api_as(people["lead"]).post(reverse("api-imports", args=[dataset.id]), {"file": upload},
                                           format="multipart")
    assert response.status_code == 400
    assert response.json()["problems"] == [{"line": 3, "message": "empty text"}]
    assert dataset.records.count() == 3


def test_api_large_import_is_queued_with_202(people, dataset, settings, django_capture_on_commit_callbacks):
    settings.TASKLLM_IMPORT_INLINE_MAX_BYTES = 5
    upload = SimpleUploadedFile("t.csv", b"text,label\nok,billing\n")
    with django_capture_on_commit_callbacks(execute=False):
        response = api_as(people["lead"]).post(reverse("api-imports", args=[dataset.id]), {"file": upload},
                                               format="multipart")
    assert response.status_code == 202 and response.json()["status"] == "QUEUED"
    status = api_as(people["reviewer"]).get(reverse("api-import", args=[response.json()["id"]]))
    assert status.json()["progress_percent"] == 0


def test_api_records_filter_by_split_and_search(people, project):
    dataset = DatasetFactory(project=project)
    RecordFactory(dataset=dataset, text="held out one", split="test")
    RecordFactory(dataset=dataset, text="train one", split="train")
    RecordFactory(dataset=dataset, text="unassigned one")
    client = api_as(people["reviewer"])
    url = reverse("api-records", args=[dataset.id])
    assert [r["text"] for r in client.get(url, {"split": "test"}).json()["results"]] == ["held out one"]
    assert [r["text"] for r in client.get(url, {"split": "none"}).json()["results"]] == ["unassigned one"]
    assert client.get(url, {"q": "ONE"}).json()["count"] == 3
    assert client.get(url, {"limit": 1}).json()["next"]


def test_api_split_assigns_by_share(people, project):
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(10, dataset=dataset)
    response = api_as(people["lead"]).post(reverse("api-split", args=[dataset.id]), {"test_share": 0.2},
                                           format="json")
    assert response.json() == {"test": 2, "train": 8}


def test_api_split_needs_exactly_one_instruction(people, dataset):
    response = api_as(people["lead"]).post(reverse("api-split", args=[dataset.id]), {}, format="json")
    assert response.status_code == 400


def test_api_export_streams_jsonl(people, dataset):
    response = api_as(people["reviewer"]).get(reverse("api-export", args=[dataset.id]), {"format": "jsonl"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["label"] == "billing"


def test_api_dataset_create_and_list(people, project):
    client = api_as(people["lead"])
    created = client.post(reverse("api-datasets", args=[project.id]), {"name": "Emails"}, format="json")
    assert created.status_code == 201
    names = [d["name"] for d in client.get(reverse("api-datasets", args=[project.id])).json()["results"]]
    assert "Emails" in names


def test_api_lists_only_imports_of_the_dataset(people, dataset):
    DatasetImport.objects.create(dataset=dataset, original_name="mine.csv", format="csv",
                                 status=JobStatus.SUCCEEDED)
    DatasetImport.objects.create(dataset=DatasetFactory(), original_name="theirs.csv", format="csv")
    response = api_as(people["reviewer"]).get(reverse("api-imports", args=[dataset.id]))
    assert [i["original_name"] for i in response.json()["results"]] == ["mine.csv"]


def test_token_authentication_works(people, project):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = Token.objects.create(user=people["reviewer"])
    client = APIClient(headers={"Authorization": f"Token {token.key}"})
    assert client.get(reverse("api-project", args=[project.id])).json()["name"] == project.name
    assert APIClient(headers={"Authorization": "Token wrong"}).get(reverse("api-projects")).status_code == 401


def test_api_refuses_a_csv_without_the_label_column_naming_the_files_columns(people, dataset):
    upload = SimpleUploadedFile("intents.csv", b"text,category\nI lost my card,billing\n")
    response = api_as(people["lead"]).post(reverse("api-imports", args=[dataset.id]), {"file": upload},
                                           format="multipart")
    assert response.status_code == 400
    assert response.json()["columns"] == ["text", "category"]
    assert "no 'label' column" in response.json()["detail"] and "text, category" in response.json()["detail"]
    assert dataset.records.count() == 3 and not DatasetImport.objects.filter(dataset=dataset).exists()


def test_api_imports_with_a_chosen_label_column_or_explicitly_without_labels(people, dataset):
    client, url = api_as(people["lead"]), reverse("api-imports", args=[dataset.id])
    chosen = client.post(url, {"file": SimpleUploadedFile("a.csv", b"text,category\nI lost my card,billing\n"),
                               "label_column": "category"}, format="multipart")
    assert chosen.status_code == 201 and dataset.records.get(text="I lost my card").label == "billing"
    unlabelled = client.post(url, {"file": SimpleUploadedFile("b.csv", b"text,category\nHello there,billing\n"),
                                   "no_labels": "true"}, format="multipart")
    assert unlabelled.status_code == 201
    record = dataset.records.get(text="Hello there")
    assert record.label == "" and record.metadata == {"category": "billing"}
