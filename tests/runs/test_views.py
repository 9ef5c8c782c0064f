from django.urls import reverse

from apps.core.models import JobStatus
from apps.runs.models import Output, Run
from apps.runs.services import run_execute
from tests.conftest import api_as, htmx_as, login


def launch(client, project, prompt_version, remote_model, dataset, **extra):
    return client.post(reverse("runs:create", args=[project.id]), {
        "prompt_version": prompt_version.id, "model": remote_model.id, "dataset": dataset.id, "repeats": "1",
        "concurrency": "4", **extra})


def test_lead_launches_a_run_and_sees_its_outputs(people, project, prompt_version, remote_model, dataset,
                                                  django_capture_on_commit_callbacks):
    client = login(people["lead"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = launch(client, project, prompt_version, remote_model, dataset)
    run = Run.objects.get()
    assert response.url == reverse("runs:detail", args=[run.id]) and len(callbacks) == 1
    queued = client.get(response.url).content.decode()
    assert "0 of 3 outputs" in queued and "Outputs appear here as they arrive" in queued
    run_execute(run_id=run.id)
    page = client.get(response.url).content.decode()
    assert "3 of 3 outputs (100%)" in page and "Ticket number" in page and "billing" in page


def test_status_partial_polls_until_the_run_ends(people, project, prompt_version, remote_model, dataset,
                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        launch(login(people["lead"]), project, prompt_version, remote_model, dataset)
    run = Run.objects.get()
    client = htmx_as(people["reviewer"], target="run-status")
    polling = client.get(reverse("runs:detail", args=[run.id]))
    assert polling.status_code == 200 and 'hx-trigger="every 1s"' in polling.content.decode()
    run_execute(run_id=run.id)
    done = client.get(reverse("runs:detail", args=[run.id]))
    assert done.status_code == 286 and "Succeeded" in done.content.decode()


def test_outputs_filter_by_status_and_show_messages(people, project, prompt_version, remote_model, dataset,
                                                    llm_server, django_capture_on_commit_callbacks):
    llm_server.answer = lambda body: "not json"
    with django_capture_on_commit_callbacks(execute=False):
        launch(login(people["lead"]), project, prompt_version, remote_model, dataset)
    run = run_execute(run_id=Run.objects.get().id)
    client = login(people["reviewer"])
    assert "3 outputs" in client.get(reverse("runs:detail", args=[run.id]), {"status": "invalid"}).content.decode()
    assert "0 outputs" in client.get(reverse("runs:detail", args=[run.id]), {"status": "ok"}).content.decode()
    output = Output.objects.filter(run=run).first()
    detail = client.get(reverse("runs:output", args=[output.id])).content.decode()
    assert "Ticket: Ticket number" in detail and "not json" in detail


def test_cancel_and_resume_buttons(people, project, prompt_version, remote_model, dataset,
                                   django_capture_on_commit_callbacks):
    client = login(people["lead"])
    with django_capture_on_commit_callbacks(execute=False):
        launch(client, project, prompt_version, remote_model, dataset)
        run = Run.objects.get()
        client.post(reverse("runs:cancel", args=[run.id]))
        run.refresh_from_db()
        assert run.status == JobStatus.CANCELLED
        client.post(reverse("runs:resume", args=[run.id]))
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED


def test_the_form_says_what_is_missing(people, project):
    page = login(people["lead"]).get(reverse("runs:create", args=[project.id])).content.decode()
    assert "A run needs" in page and "a prompt" in page and "a model" in page


def test_api_creates_a_run_and_lists_outputs(people, project, prompt_version, remote_model, dataset,
                                             django_capture_on_commit_callbacks):
    client = api_as(people["lead"])
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("api-runs", args=[project.id]), {
            "prompt_version": prompt_version.id, "model": remote_model.id, "dataset": dataset.id, "repeats": 2},
            format="json")
    assert response.status_code == 201 and response.json()["total"] == 6
    run_execute(run_id=response.json()["id"])
    status = client.get(reverse("api-run", args=[response.json()["id"]])).json()
    assert status["status"] == "SUCCEEDED" and status["counts"]["ok"] == 6
    outputs = client.get(reverse("api-outputs", args=[response.json()["id"]])).json()
    assert outputs["count"] == 6 and outputs["results"][0]["answer"] == {"label": "billing"}


def test_the_last_status_poll_brings_the_whole_page_with_its_outputs(people, project, prompt_version, remote_model,
                                                                     dataset, django_capture_on_commit_callbacks):
    """When the run ends, the poll answers with the page's <main> (outputs table included) and stops polling."""
    with django_capture_on_commit_callbacks(execute=False):
        launch(login(people["lead"]), project, prompt_version, remote_model, dataset)
    run = run_execute(run_id=Run.objects.get().id)
    done = htmx_as(people["reviewer"], target="run-status").get(reverse("runs:detail", args=[run.id]))
    page = done.content.decode()
    assert done.status_code == 286 and done["HX-Retarget"] == "main" and done["HX-Reselect"] == "main"
    assert "Ticket number" in page and "Review outputs" in page and "appear here as they arrive" not in page


def test_the_outputs_api_refuses_an_unknown_status(graded_run, people):
    client = api_as(people["reviewer"])
    refused = client.get(reverse("api-outputs", args=[graded_run.id]), {"status": "bogus"})
    assert refused.status_code == 400 and "`status`" in refused.content.decode()
    valid = client.get(reverse("api-outputs", args=[graded_run.id]), {"status": "ok"})
    assert valid.status_code == 200 and valid.json()["count"] == graded_run.outputs.count()


def _page_queries(client, url) -> tuple[str, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        page = client.get(url).content.decode()
    return page, len(queries)


def test_outputs_show_their_grade_status_and_open_in_review_in_flat_queries(people, graded_run, dataset):
    from apps.review.services import grade_submit
    from tests.factories import RecordFactory

    first, second, third = graded_run.outputs.order_by("record__position")
    grade_submit(output=first, reviewer=people["reviewer"], verdict="pass")
    grade_submit(output=second, reviewer=people["reviewer"], verdict="pass")
    grade_submit(output=second, reviewer=people["lead"], verdict="fail")
    client = login(people["reviewer"])
    url = reverse("runs:detail", args=[graded_run.id])
    page, queries = _page_queries(client, url)
    cells = [cell.split("</td>")[0] for cell in page.split('class="grade-status"')[1:]]
    assert "pass" in cells[0] and "1 grade<" in cells[0]
    assert "split" in cells[1] and "2 grades" in cells[1]
    assert "not yet" in cells[2] and "grade<" not in cells[2]
    for output in (first, second, third):
        assert f'href="{reverse("review:output", args=[graded_run.id, output.id])}">Open in review' in page
    for record in RecordFactory.create_batch(3, dataset=dataset):
        output = Output.objects.create(run=graded_run, record=record, status="ok", answer={"label": "billing"})
        grade_submit(output=output, reviewer=people["lead"], verdict="fail")
    assert _page_queries(client, url)[1] == queries
