import csv
import io
import json

import pytest
from django.urls import reverse

from apps.deployments.models import DeploymentKey, Trace
from apps.deployments.trace_buffer import BUFFER
from apps.llm.models import Model
from tests.conftest import login

from .conftest import bearer, finished_eval

PREDICT = "/api/deployments/ticket-router/predict"


def call(client, secret, text):
    return client.post(PREDICT, json.dumps({"text": text}), content_type="application/json", **bearer(secret))


def test_deployment_page_shows_current_version_its_eval_history_and_candidate_gates(
        deployment, project, people, prompt_version):
    tuned = Model.objects.create(project=project, name="Tuned", provider="openai", base_url="http://x/v1")
    failed = finished_eval(project, tuned, prompt_version, passed=False)
    page = login(people["reviewer"]).get(reverse("deployments:detail", args=[deployment.id])).content.decode()
    assert "Fake GPT" in page and str(prompt_version) in page
    assert f'data-eval="{failed.id}"' in page and "gate failed" not in page  # reviewers see gates, no buttons
    assert f'data-promotion="{deployment.current_promotion_id}"' in page
    lead_page = login(people["lead"]).get(reverse("deployments:detail", args=[deployment.id])).content.decode()
    assert "gate failed" in lead_page  # a lead cannot promote it; only an admin sees the override


def test_lead_is_refused_promotion_of_a_failed_eval(deployment, project, people, prompt_version):
    tuned = Model.objects.create(project=project, name="Tuned", provider="openai", base_url="http://x/v1")
    finished_eval(project, tuned, prompt_version, passed=False)
    response = login(people["lead"]).post(reverse("deployments:promote", args=[deployment.id]), {
        "model": tuned.id, "prompt_version": prompt_version.id, "reason": "looks better"}, follow=True)
    assert "passed its gate" in response.content.decode()
    deployment.refresh_from_db()
    assert deployment.model_id != tuned.id


def test_new_key_is_shown_once(deployment, people):
    response = login(people["lead"]).post(reverse("deployments:keys", args=[deployment.id]), {"name": "App"})
    assert response.status_code == 201
    key = DeploymentKey.objects.get(name="App")
    secret = response.content.decode().split('id="new-key">')[1].split("<")[0]
    assert secret.startswith("tlk_") and key.prefix == secret[:10]
    page = login(people["lead"]).get(reverse("deployments:detail", args=[deployment.id])).content.decode()
    assert secret not in page


def test_traces_page_filters_and_exports(deployment, key, people, llm_server, client):
    call(client, key.secret, "invoice problem")
    llm_server.answer = lambda body: "nonsense"
    call(client, key.secret, "crash report")
    BUFFER.flush()
    viewer = login(people["reviewer"])
    url = reverse("deployments:traces", args=[deployment.id])
    assert "invoice problem" in viewer.get(url).content.decode()
    invalid = viewer.get(url, {"status": "invalid"}).content.decode()
    assert "crash report" in invalid and "invoice problem" not in invalid
    assert "invoice problem" in viewer.get(url, {"label": "billing"}).content.decode()
    assert "crash report" in viewer.get(url, {"q": "crash"}).content.decode()
    export = viewer.get(reverse("deployments:traces_export", args=[deployment.id]), {"format": "jsonl"})
    rows = [json.loads(line) for line in b"".join(export.streaming_content).decode().splitlines()]
    assert {r["text"] for r in rows} == {"invoice problem", "crash report"}
    csv_export = viewer.get(reverse("deployments:traces_export", args=[deployment.id]), {"format": "csv"})
    assert b"crash report" in b"".join(csv_export.streaming_content)
    trace = Trace.objects.get(text="crash report")
    detail = viewer.get(reverse("deployments:trace", args=[deployment.id, trace.id])).content.decode()
    assert "the answer is not JSON" in detail and "Route the ticket" in detail


def test_traffic_page_shows_the_days_figures_and_drift(deployment, key, people, llm_server, client, project):
    from apps.review.models import TestCase

    TestCase.objects.create(project=project, text="t1", text_hash="1", expected={"label": "technical"})
    for text in ("a", "b", "c"):
        call(client, key.secret, text)
    BUFFER.flush()
    page = login(people["reviewer"]).get(reverse("deployments:traffic", args=[deployment.id])).content.decode()
    assert 'id="days"' in page and ">3<" in page and "100%" in page
    assert "Population stability index" in page and "drift" in page
    export = login(people["reviewer"]).get(reverse("deployments:traffic_export", args=[deployment.id]))
    lines = export.content.decode().splitlines()
    assert lines[0].startswith("day,calls,valid") and ",3,3,0,0," in lines[1]


def test_lost_traces_are_shown(deployment, people, settings):
    from apps.deployments.models import TraceWriteFailure

    TraceWriteFailure.objects.create(deployment=deployment, count=7, reason="buffer full")
    page = login(people["reviewer"]).get(reverse("deployments:detail", args=[deployment.id])).content.decode()
    assert "7 traces could not be written" in page


def test_a_full_buffer_counts_what_it_could_not_keep(deployment, key, llm_server, client, settings):
    from apps.deployments.models import TraceWriteFailure

    settings.TASKLLM_TRACE_BUFFER_MAX = 2
    for text in ("a", "b", "c", "d"):
        assert call(client, key.secret, text).status_code == 200
    assert BUFFER.flush() == 2
    assert TraceWriteFailure.objects.get().count == 2


@pytest.mark.django_db(transaction=True)  # foreign keys are checked when each write commits, as in production
def test_a_trace_the_database_refuses_is_counted_on_its_deployments_page(deployment, key, people, llm_server,
                                                                         client):
    from apps.deployments.models import TraceWriteFailure

    assert call(client, key.secret, "kept").status_code == 200
    BUFFER.flush()
    assert call(client, key.secret, "refused").status_code == 200
    DeploymentKey.objects.filter(id=key.id).delete()  # the trace's key is gone before its trace is written

    assert BUFFER.flush() == 0
    assert TraceWriteFailure.objects.get().deployment_id == deployment.id
    page = login(people["reviewer"]).get(reverse("deployments:detail", args=[deployment.id])).content.decode()
    assert "1 trace could not be written" in page


def test_a_sampled_trace_is_graded_in_the_review_screen_into_a_training_example(
        deployment, key, people, llm_server, client):
    from apps.review.models import TrainingExample
    from apps.review.services import grade_submit
    from apps.runs.models import Output

    trace_id = call(client, key.secret, "I was charged twice").json()["trace_id"]
    client.post(f"/api/traces/{trace_id}/feedback", json.dumps({"correct_answer": {"label": "technical"}}),
                content_type="application/json", **bearer(key.secret))
    output = Output.objects.get(id=Trace.objects.get(id=trace_id).review_output_id)
    reviewer = login(people["reviewer"])
    screen = reviewer.get(reverse("review:start", args=[output.run_id]), follow=True).content.decode()
    assert "I was charged twice" in screen and "Suggested by the application" in screen
    grade_submit(output=output, reviewer=people["reviewer"], corrected_answer={"label": "technical"})
    example = TrainingExample.objects.get()
    assert example.answer == {"label": "technical"} and example.text == "I was charged twice"
    assert example.messages == Trace.objects.get(id=trace_id).messages


def test_trace_export_refuses_an_unknown_format(deployment, people):
    url = reverse("deployments:traces_export", args=[deployment.id])
    for fmt in ("xml", "\n"):
        response = login(people["reviewer"]).get(url, {"format": fmt})
        assert response.status_code == 400  # never a silent fallback to CSV
        assert "Content-Disposition" not in response


def test_the_page_showing_a_new_keys_secret_is_never_cached(deployment, people):
    response = login(people["lead"]).post(reverse("deployments:keys", args=[deployment.id]), {"name": "App"})
    assert response.status_code == 201 and "no-store" in response["Cache-Control"]


def test_the_webhooks_page_showing_signing_secrets_is_never_cached(project, people):
    response = login(people["lead"]).get(reverse("deployments:webhooks", args=[project.id]))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]


def test_trace_csv_neutralises_formula_cells(deployment, key, people, llm_server, client):
    call(client, key.secret, "=HYPERLINK(\"http://x\")")
    BUFFER.flush()
    export = login(people["reviewer"]).get(reverse("deployments:traces_export", args=[deployment.id]),
                                           {"format": "csv"})
    body = b"".join(export.streaming_content).decode()
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert "'=HYPERLINK(\"http://x\")" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
