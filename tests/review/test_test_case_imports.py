"""Test-case imports: small files at once (the page and API as before), larger ones as a job with a status page
and a poll URL. The job is run here by calling it as the worker would; tests/review/test_tasks.py uses a worker."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import JobStatus
from apps.review import services
from apps.review.models import TestCase, TestCaseImport, TrainingExample
from tests.conftest import api_as, htmx_as, login


def cases_file(*texts: str, bad_line: int | None = None) -> SimpleUploadedFile:
    lines = [json.dumps({"text": text, "expected": {"label": "nope" if n == bad_line else "billing"},
                         "points": ["invoices"]}) for n, text in enumerate(texts, start=1)]
    return SimpleUploadedFile("cases.jsonl", ("\n".join(lines) + "\n").encode())


def queued(settings):
    settings.TASKLLM_TEST_CASE_IMPORT_INLINE_MAX_BYTES = 10


def test_a_large_upload_lands_on_its_status_page_which_polls(people, project, settings):
    queued(settings)
    response = login(people["lead"]).post(reverse("review:test_case_import", args=[project.id]),
                                          {"file": cases_file("My invoice is wrong", "Refund the invoice")})
    case_import = TestCaseImport.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("review:test_case_import_detail", args=[case_import.id])
    assert case_import.status == JobStatus.QUEUED and not TestCase.objects.exists()
    page = login(people["lead"]).get(response.url).content.decode()
    assert "Waiting for a worker" in page and 'hx-trigger="every 1s"' in page
    assert "Waiting for a free worker on the" in page  # core/_job_notes.html: which queue it waits in
    partial = htmx_as(people["lead"]).get(response.url)
    assert partial.status_code == 200 and "<html" not in partial.content.decode()


def test_a_finished_import_shows_its_count_and_stops_polling(people, project):
    case_import = services.test_cases_import_start(project=project, upload=cases_file("A", "B", "C"), inline=False)
    services.test_case_import_run(import_id=case_import.id)
    response = htmx_as(people["lead"]).get(reverse("review:test_case_import_detail", args=[case_import.id]))
    assert response.status_code == 286
    assert "Imported 3 test cases from cases.jsonl" in response.content.decode()
    assert TestCase.objects.filter(project=project).count() == 3
    case_import.refresh_from_db()
    assert case_import.progress == 100 and not case_import.file  # the stored upload is gone once done


def test_a_rejected_queued_file_keeps_nothing_and_shows_its_lines(people, project):
    case_import = services.test_cases_import_start(project=project, upload=cases_file("A", "B", "C", bad_line=2),
                                                   inline=False)
    services.test_case_import_run(import_id=case_import.id)
    case_import.refresh_from_db()
    assert case_import.status == JobStatus.FAILED and [p["line"] for p in case_import.problems] == [2]
    assert not TestCase.objects.exists()
    page = login(people["lead"]).get(reverse("review:test_case_import_detail", args=[case_import.id]))
    assert "Line 2: The expected answer is not valid" in page.content.decode()
    assert "hx-get" not in page.content.decode()


def test_a_queued_import_keeps_the_leakage_guard(people, project):
    TrainingExample.objects.create(project=project, messages=[], answer={"label": "billing"}, text="Refund me",
                                   text_hash=services.text_hash("Refund me"))
    case_import = services.test_cases_import_start(project=project, upload=cases_file("New one", "refund me!"),
                                                   inline=False)
    services.test_case_import_run(import_id=case_import.id)
    case_import.refresh_from_db()
    assert case_import.status == JobStatus.FAILED
    assert case_import.problems[0]["line"] == 2 and "training example" in case_import.problems[0]["message"]
    assert not TestCase.objects.exists()


def test_the_api_imports_a_small_file_at_once(people, project):
    response = api_as(people["lead"]).post(reverse("api-test-case-import", args=[project.id]),
                                           {"file": cases_file("My invoice is wrong")}, format="multipart")
    assert response.status_code == 201 and response.json() == {"imported": 1}
    refused = api_as(people["lead"]).post(reverse("api-test-case-import", args=[project.id]),
                                          {"file": cases_file("X", "Y", bad_line=2)}, format="multipart")
    assert refused.status_code == 400 and [p["line"] for p in refused.json()["problems"]] == [2]


def test_the_api_queues_a_large_file_with_202_and_a_url_to_poll(people, project, settings):
    queued(settings)
    client = api_as(people["lead"])
    response = client.post(reverse("api-test-case-import", args=[project.id]),
                           {"file": cases_file("My invoice is wrong", "Refund it")}, format="multipart")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "QUEUED"
    assert body["url"] == f"http://testserver/api/test-case-imports/{body['id']}/"
    poll = client.get(body["url"]).json()
    assert poll["status"] == "QUEUED" and poll["progress_percent"] == 0 and poll["cases_imported"] == 0
    services.test_case_import_run(import_id=body["id"])
    poll = client.get(body["url"]).json()
    assert (poll["status"], poll["cases_imported"], poll["progress_percent"]) == ("SUCCEEDED", 2, 100)


def test_the_api_poll_shows_a_rejected_files_problems(people, project, settings):
    queued(settings)
    client = api_as(people["lead"])
    body = client.post(reverse("api-test-case-import", args=[project.id]),
                       {"file": cases_file("A", "B", "C", bad_line=3)}, format="multipart").json()
    services.test_case_import_run(import_id=body["id"])
    poll = client.get(body["url"]).json()
    assert poll["status"] == "FAILED" and poll["problems"][0]["line"] == 3
    assert "Nothing was imported" in poll["error"]
    assert not TestCase.objects.exists()


def test_a_binary_test_case_file_is_rejected_in_words(people, project):
    png = SimpleUploadedFile("cases.jsonl", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    page = login(people["lead"]).post(reverse("review:test_case_import", args=[project.id]), {"file": png},
                                      follow=True)
    assert "This file is not text (it looks like a PNG image); upload a UTF-8 JSONL file." in page.content.decode()
    utf16 = SimpleUploadedFile("cases.jsonl", '{"text": "hi"}\n'.encode("utf-16"))
    response = api_as(people["lead"]).post(reverse("api-test-case-import", args=[project.id]), {"file": utf16},
                                           format="multipart")
    assert response.status_code == 400 and "This file is UTF-16 text; save it as UTF-8" in response.json()["detail"]
    assert not TestCaseImport.objects.exists() and not TestCase.objects.exists()
