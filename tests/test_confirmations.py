"""Cancelling a run, an eval, a fine-tune or an import, and changing a member's role, ask before they act."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from apps.core.jobs import job_claim
from apps.core.models import JobStatus
from apps.datasets.models import DatasetImport
from apps.datasets.services import ImportCancelled, _heartbeat, import_cancel, import_run
from apps.evals.models import EvalRun
from apps.llm.models import Model
from apps.review.models import TestCaseImport
from apps.runs.models import Run
from apps.tuning.models import FineTuneJob
from tests.conftest import login


def test_cancel_run_asks_first(people, project, dataset, prompt_version):
    model = Model.objects.create(project=project, name="Local", provider="local")
    run = Run.objects.create(project=project, prompt_version=prompt_version, model=model, dataset=dataset, total=3)
    page = login(people["lead"]).get(reverse("runs:detail", args=[run.id])).content.decode()
    assert f"onclick=\"return confirm('Cancel run #{run.id}? The outputs so far are kept.')\">Cancel run" in page


def test_cancel_eval_asks_first(people, project, prompt_version):
    model = Model.objects.create(project=project, name="Local", provider="local")
    eval_run = EvalRun.objects.create(project=project, model=model, prompt_version=prompt_version)
    page = login(people["lead"]).get(reverse("evals:detail", args=[eval_run.id])).content.decode()
    assert f"onclick=\"return confirm('Cancel eval #{eval_run.id}? The answers so far are kept.')\">Cancel eval" in page


def test_cancel_fine_tune_asks_first(people, project):
    model = Model.objects.create(project=project, name="Local", provider="local")
    job = FineTuneJob.objects.create(project=project, base_model=model, backend="openai")
    page = login(people["lead"]).get(reverse("tuning:detail", args=[job.id])).content.decode()
    assert f"return confirm('Cancel fine-tune #{job.id}?" in page


def test_role_change_asks_before_it_submits_and_puts_the_old_role_back_otherwise(people, project):
    page = login(people["admin"]).get(reverse("accounts:members", args=[project.id])).content.decode()
    assert 'data-was="reviewer" data-member="reviewer"' in page
    assert "if (confirm('Make ' + this.dataset.member" in page and "else this.value = this.dataset.was;" in page
    assert 'onchange="this.form.requestSubmit()"' not in page


def _queued_import(dataset) -> DatasetImport:
    dataset_import = DatasetImport(dataset=dataset, original_name="big.csv", format="csv", size_bytes=40)
    dataset_import.file.save("big.csv", ContentFile(b"text,label\nA ticket about an invoice,billing\n"), save=False)
    dataset_import.save()
    return dataset_import


def test_a_dataset_import_is_cancelled_after_a_confirmation_and_keeps_nothing(people, dataset):
    dataset_import = _queued_import(dataset)
    records_before = dataset.records.count()
    client = login(people["lead"])
    page = client.get(reverse("datasets:import_detail", args=[dataset_import.id])).content.decode()
    assert "return confirm('Cancel the import of big.csv? Nothing of the file is kept.')\">Cancel import" in page
    response = client.post(reverse("datasets:import_cancel", args=[dataset_import.id]))
    assert response.url == reverse("datasets:import_detail", args=[dataset_import.id])
    import_run(import_id=dataset_import.id)  # the worker that picks it up later does nothing
    dataset_import.refresh_from_db()
    assert dataset_import.status == JobStatus.CANCELLED and dataset.records.count() == records_before
    assert not dataset_import.file
    page = client.get(response.url).content.decode()
    assert "Cancelled: nothing of this file was kept." in page and "Cancel import" not in page


def test_a_running_import_stops_at_its_next_heartbeat_once_cancelled(dataset):
    dataset_import = _queued_import(dataset)
    assert job_claim(DatasetImport, dataset_import.id)
    assert import_cancel(dataset_import=dataset_import)
    with pytest.raises(ImportCancelled), dataset_import.file.open("rb") as stored:
        _heartbeat(dataset_import, stored)


def test_reviewers_are_not_offered_to_cancel_an_import(people, dataset):
    page = login(people["reviewer"]).get(reverse("datasets:import_detail", args=[_queued_import(dataset).id]))
    assert "Cancel import" not in page.content.decode()


def test_a_test_case_import_is_cancelled_after_a_confirmation(people, project):
    case_import = TestCaseImport.objects.create(project=project, original_name="cases.jsonl", size_bytes=10)
    client = login(people["lead"])
    page = client.get(reverse("review:test_case_import_detail", args=[case_import.id])).content.decode()
    assert "return confirm('Cancel the import of cases.jsonl? Nothing of the file is kept.')" in page
    client.post(reverse("review:test_case_import_cancel", args=[case_import.id]))
    case_import.refresh_from_db()
    assert case_import.status == JobStatus.CANCELLED
    assert "Cancelled: nothing of this file was kept." in client.get(
        reverse("review:test_case_import_detail", args=[case_import.id])).content.decode()
