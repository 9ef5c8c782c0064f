"""Test-case imports as real Celery jobs: a worker process on the real Redis broker and the PostgreSQL test database."""

import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from apps.core.models import JobStatus
from apps.review import services
from apps.review.models import TestCase, TestCaseImport
from tests.conftest import login
from tests.support.worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(workers):
    return workers.start()


def cases_jsonl(lines: int, bad_line: int | None = None) -> bytes:
    rows = [json.dumps({"text": f"Ticket {n}: the invoice for order {n} is wrong",
                        "expected": {"label": "nope" if n == bad_line else "billing"}, "points": ["invoices"]})
            for n in range(1, lines + 1)]
    return ("\n".join(rows) + "\n").encode()


def start(project, content: bytes) -> TestCaseImport:
    return services.test_cases_import_start(project=project, upload=ContentFile(content, name="cases.jsonl"))


def finished(case_import: TestCaseImport) -> bool:
    case_import.refresh_from_db()
    return case_import.is_finished


def test_worker_imports_a_large_test_case_file_as_a_job(worker, project, settings):
    settings.TASKLLM_TEST_CASE_IMPORT_INLINE_MAX_BYTES = 1024
    case_import = start(project, cases_jsonl(600))
    assert case_import.status == JobStatus.QUEUED
    wait_for(lambda: finished(case_import), timeout=90, what="the test-case import job", log=worker.log_path)
    assert case_import.status == JobStatus.SUCCEEDED, (case_import.error, case_import.problems)
    assert case_import.cases_imported == 600 and case_import.attempts == 1
    assert TestCase.objects.filter(project=project, points__name="invoices").count() == 600


def test_worker_rejects_a_large_bad_file_whole_and_its_page_names_the_line(worker, project, people, settings):
    settings.TASKLLM_TEST_CASE_IMPORT_INLINE_MAX_BYTES = 1024
    case_import = start(project, cases_jsonl(600, bad_line=599))
    wait_for(lambda: finished(case_import), timeout=90, what="the test-case import job", log=worker.log_path)
    assert case_import.status == JobStatus.FAILED
    assert [p["line"] for p in case_import.problems] == [599]
    assert not TestCase.objects.exists()
    page = login(people["lead"]).get(reverse("review:test_case_import_detail", args=[case_import.id]))
    assert "Line 599: The expected answer is not valid" in page.content.decode()


def test_worker_runs_a_paraphrase_request_against_the_model(worker, project, remote_model, llm_server):
    from apps.review.paraphrases import paraphrases_request

    llm_server.answer = lambda body: json.dumps({"paraphrases": ["Pause my account", "Hold my account"]})
    case = services.test_case_create(project=project, text="Put my account on hold", expected={"label": "billing"})
    request = paraphrases_request(case=case, model=remote_model, count=2)
    assert request.status == JobStatus.QUEUED

    def done() -> bool:
        request.refresh_from_db()
        return request.is_finished

    wait_for(done, timeout=90, what="the paraphrase request", log=worker.log_path)
    assert request.status == JobStatus.SUCCEEDED, request.error
    assert [p.text for p in request.proposals.order_by("id")] == ["Pause my account", "Hold my account"]
    assert request.attempts == 1
