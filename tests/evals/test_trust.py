"""Scores people can trust: the repeats' temperature, pass^k, what the evidence can confirm, the gate's reasons,
and cost. Evals run in-process against the fake OpenAI-compatible server (tests/support/fake_llm.py)."""

import csv
import io

import pytest
from django.db.models import Sum
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.evals.models import EvalRun
from apps.evals.services import eval_create
from apps.llm.models import Model
from tests.conftest import api_as, login
from tests.evals.conftest import run_eval, scripted

ANSWERS = {  # three repeats: hold 3/3, 0/3, 2/3, 3/3; credit 3/3, 0/3 (not listed: 'billing')
    "Please hold my account": ["escalation"], "Put my deliveries on hold": ["escalation", "escalation", "billing"],
    "Hold everything while I travel": ["escalation"], "Where is my credit for the outage": ["technical"],
}


def answering_requests(llm_server) -> list[dict]:
    return [body for body in llm_server.requests if "messages" in body]


def test_the_eval_temperature_reaches_every_answer_and_leaves_the_model_alone(
        project, prompt_version, remote_model, cases, llm_server, django_capture_on_commit_callbacks, people):
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=2,
                        temperature=0.7)
    asked = answering_requests(llm_server)
    assert len(asked) == 12 and {body["temperature"] for body in asked} == {0.7}
    remote_model.refresh_from_db()
    assert remote_model.temperature == 0.0 and eval_run.temperature == 0.7
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[eval_run.id])).content.decode()
    assert "at temperature 0.7" in page and "greedy-repeats" not in page

    llm_server.requests.clear()
    greedy = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=2)
    assert {body["temperature"] for body in answering_requests(llm_server)} == {0.0}
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[greedy.id])).content.decode()
    assert "at temperature 0 (the model's)" in page and 'id="greedy-repeats"' in page


def test_the_temperature_is_bounded_like_the_models(project, prompt_version, remote_model, cases, people):
    with pytest.raises(ApplicationError, match="Temperature must be between 0 and 2"):
        eval_create(project=project, model=remote_model, prompt_version=prompt_version, temperature=2.5,
                    launch=False)
    response = api_as(people["lead"]).post(reverse("api-evals", args=[project.id]), {
        "model": remote_model.id, "prompt_version": prompt_version.id, "temperature": -0.1}, format="json")
    assert response.status_code == 400 and "temperature" in response.json()
    form = login(people["lead"]).post(reverse("evals:create", args=[project.id]), {
        "model": remote_model.id, "prompt_version": prompt_version.id, "repeats": 3, "concurrency": 4,
        "temperature": "3"})
    assert form.status_code == 200 and not EvalRun.objects.exists()
    response = api_as(people["lead"]).post(reverse("api-evals", args=[project.id]), {
        "model": remote_model.id, "prompt_version": prompt_version.id, "temperature": 0.9}, format="json")
    assert response.status_code == 201 and response.json()["temperature"] == 0.9
    assert EvalRun.objects.get().temperature == 0.9


def test_a_model_that_cannot_sample_says_so_on_the_page(project, prompt_version, cases, people):
    local = Model.objects.create(project=project, name="Bundled", provider="local")
    eval_run = eval_create(project=project, model=local, prompt_version=prompt_version, repeats=3, temperature=0.8,
                           launch=False)
    assert any("cannot sample" in notice for notice in eval_run.notices)
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[eval_run.id])).content.decode()
    assert "Bundled cannot sample" in page and "(0.8 asked)" in page
    one_repeat = eval_create(project=project, model=local, prompt_version=prompt_version, repeats=1,
                             temperature=0.8, launch=False)
    assert not any("cannot sample" in notice for notice in one_repeat.notices)  # one answer: nothing to agree on


def test_pass_all_repeats_beside_the_pass_rate(project, prompt_version, remote_model, cases, points, llm_server,
                                               django_capture_on_commit_callbacks, people):
    llm_server.answer = scripted(ANSWERS)
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=3,
                        temperature=1.0)
    results = {r.point_id: r for r in eval_run.results.all()}
    # hold: cases 1 and 4 pass all three repeats, 2 and 3 do not -> 2/4; credit 1/2; all 3/6
    assert results[points["hold"].id].pass_all == 0.5 and results[points["credit"].id].pass_all == 0.5
    assert results[None].pass_all == 0.5 and results[points["hold"].id].pass_rate == pytest.approx(8 / 12)
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[eval_run.id])).content.decode()
    hold_row = page.split(f'data-point="{points["hold"].id}"')[1].split("</tr>")[0]
    assert "pass^3" in page and '<td class="num pass-all">50%</td>' in hold_row
    api = api_as(people["reviewer"]).get(reverse("api-eval", args=[eval_run.id])).json()
    assert {r["point_name"]: r["pass_all"] for r in api["results"]}["hold is a pause"] == 0.5
    rows = list(csv.reader(io.StringIO(login(people["reviewer"]).get(
        reverse("evals:export", args=[eval_run.id, "results"])).content.decode())))
    column = rows[0].index("pass all repeats")
    assert {row[0]: row[column] for row in rows[1:]}["hold is a pause"] == "0.5"


def test_one_repeat_has_no_consistency_in_the_csv(project, prompt_version, remote_model, cases,
                                                  django_capture_on_commit_callbacks, people):
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1)
    rows = list(csv.reader(io.StringIO(login(people["reviewer"]).get(
        reverse("evals:export", args=[eval_run.id, "results"])).content.decode())))
    column = rows[0].index("consistency")
    assert {row[column] for row in rows[1:]} == {""}  # not a perfect 1.0: nothing to be consistent with


def test_each_point_says_what_its_test_cases_can_confirm(project, prompt_version, remote_model, cases, points,
                                                         llm_server, django_capture_on_commit_callbacks, people):
    llm_server.answer = scripted({})  # everything 'billing': hold 0/4, credit 0/2
    baseline = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1)
    llm_server.answer = scripted({c.text: ["escalation"] for c in cases[:2]})  # hold 2/4
    candidate = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1,
                         baseline=baseline)
    hold = candidate.results.get(point=points["hold"])
    # 0/4 -> 2/4 is p = 12/28 = 0.43: unchanged. Four cases confirm only 0/4 -> 4/4 (p = 0.029), no fall from 0%;
    # at 0% vs 50% it takes 10 cases each (0/10 vs 5/10, p = 0.032; 9 give p = 0.082).
    assert (hold.verdict, hold.confirmable_rise, hold.confirmable_fall, hold.cases_to_confirm) == (
        "unchanged", 1.0, None, 10)
    credit = candidate.results.get(point=points["credit"])
    # 0/2 -> 0/2: nothing changed; two cases confirm nothing (even 0/2 -> 2/2 is p = 2/6)
    assert (credit.cases_to_confirm, credit.confirmable_rise, credit.confirmable_fall) == (None, None, None)
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[candidate.id])).content.decode()
    hold_row = page.split(f'data-point="{points["hold"].id}"')[1].split("</tr>")[0]
    assert "+100 / no fall pts" in hold_row and '<td class="num cases-to-confirm">10</td>' in hold_row
    credit_row = page.split(f'data-point="{points["credit"].id}"')[1].split("</tr>")[0]
    assert "no rise / no fall pts" in credit_row and "no change seen" in credit_row
    api = api_as(people["reviewer"]).get(reverse("api-eval", args=[candidate.id])).json()
    by_name = {r["point_name"]: r for r in api["results"]}
    assert (by_name["hold is a pause"]["confirmable_rise"], by_name["hold is a pause"]["cases_to_confirm"]) == (
        1.0, 10)


def test_the_gate_names_the_points_that_block_it_and_why(project, prompt_version, remote_model, cases, points,
                                                         llm_server, django_capture_on_commit_callbacks, people):
    project.pass_threshold = 0.5
    project.save()
    llm_server.answer = scripted({c.text: ["escalation"] for c in cases[:4]} | {c.text: ["technical"]
                                                                               for c in cases[4:]})
    good = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1)
    assert good.gate_passed is True
    llm_server.answer = scripted({c.text: ["technical"] for c in cases[4:]})  # hold falls to 0/4
    worse = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1,
                     baseline=good)
    message = ("hold is a pause regressed (4/4 → 0/4 test cases, p = 0.029) and is below the threshold "
               "(0% &lt; 50%)")
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[worse.id])).content.decode()
    assert message in page and "credit is an SLA credit" not in page.split('id="gate"')[1].split("</p>")[0]
    api = api_as(people["reviewer"]).get(reverse("api-eval", args=[worse.id])).json()
    assert api["gate_message"] == message.replace("&lt;", "<") and api["gate"]["passed"] is False
    assert api_as(people["reviewer"]).get(reverse("api-eval", args=[good.id])).json()["gate_message"] == ""


def test_an_eval_and_the_dashboard_show_cost_at_the_models_prices(
        project, prompt_version, remote_model, cases, llm_server, django_capture_on_commit_callbacks, people):
    remote_model.input_price_per_million, remote_model.output_price_per_million = 2.0, 8.0
    remote_model.save()
    priced = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=2)
    sums = priced.outputs.aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"))
    assert sums["i"] > 0 and sums["o"] > 0
    expected = (sums["i"] * 2.0 + sums["o"] * 8.0) / 1_000_000
    cost = api_as(people["reviewer"]).get(reverse("api-eval", args=[priced.id])).json()["cost"]
    assert (cost["input_tokens"], cost["output_tokens"]) == (sums["i"], sums["o"])
    assert cost["total"] == pytest.approx(expected)
    assert cost["per_thousand_answers"] == pytest.approx(1000 * expected / 12)
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[priced.id])).content.decode()
    assert f"${expected:.4f}" in page

    unpriced_model = Model.objects.create(project=project, name="No prices", base_url=llm_server.base_url,
                                          model_id="np")
    unpriced = run_eval(project, unpriced_model, prompt_version, django_capture_on_commit_callbacks, repeats=1)
    assert api_as(people["reviewer"]).get(reverse("api-eval", args=[unpriced.id])).json()["cost"]["total"] is None
    dashboard = login(people["reviewer"]).get(reverse("evals:dashboard", args=[project.id])).content.decode()
    versions = dashboard.split('id="versions"')[1].split("</table>")[0]
    priced_row = versions.split(f'data-eval="{priced.id}"')[1].split("</tr>")[0]
    assert f"${1000 * expected / 12:.4f}" in priced_row and "ms" in priced_row and "%" in priced_row
    assert "unknown" in versions.split(f'data-eval="{unpriced.id}"')[1].split("</tr>")[0]
    columns = api_as(people["reviewer"]).get(reverse("api-dashboard", args=[project.id])).json()["columns"]
    by_eval = {c["eval_run"]: c["cost_per_1000_answers"] for c in columns}
    assert by_eval[priced.id] == pytest.approx(1000 * expected / 12) and by_eval[unpriced.id] is None
