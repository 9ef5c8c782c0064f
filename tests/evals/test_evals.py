"""Eval runs executed in-process against the fake OpenAI-compatible server, with hand-computed expectations."""

import json

import pytest
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.core.models import JobStatus
from apps.evals.models import EvalRun, PointResult
from apps.evals.services import eval_create, eval_execute, evals_for_finetune
from apps.llm.models import Model
from apps.projects.models import Project
from apps.prompts.services import prompt_create
from apps.review.services import point_create
from apps.review.services import test_case_create as add_test_case
from tests.conftest import api_as, login
from tests.evals.conftest import run_eval, scripted
from tests.factories import MembershipFactory


def test_an_eval_scores_each_point_with_pass_rate_consistency_and_latency(
        project, prompt_version, remote_model, cases, points, llm_server, django_capture_on_commit_callbacks,
        people):
    llm_server.answer = scripted({
        "Please hold my account": ["escalation"], "Pause my account for a month": ["billing"],
        "Put my deliveries on hold": ["escalation", "escalation", "billing"],
        "Hold everything while I travel": ["escalation"], "Where is my credit for the outage": ["technical"],
    })
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=3)
    assert eval_run.status == JobStatus.SUCCEEDED and eval_run.outputs.count() == 18
    results = {r.point_id: r for r in eval_run.results.all()}
    hold, credit, overall = results[points["hold"].id], results[points["credit"].id], results[None]
    # hold: case 1 3/3, case 2 0/3, case 3 2/3, case 4 3/3 -> 8 of 12; three cases most of whose repeats pass
    assert (hold.passed, hold.outputs, hold.test_cases, hold.test_cases_passed) == (8, 12, 4, 3)
    assert hold.pass_rate == pytest.approx(8 / 12)
    assert (hold.ci_low, hold.ci_high) == pytest.approx((0.3906, 0.8619), abs=1e-4)
    # consistency: 1, 1, 2/3, 1 -> mean 11/12; the paraphrase group disagrees (escalation vs billing): 1/2
    assert hold.consistency == pytest.approx(11 / 12)
    assert hold.paraphrase_agreement == pytest.approx(0.5)
    assert (credit.passed, credit.outputs, credit.consistency) == (3, 6, 1.0)
    assert credit.paraphrase_agreement is None
    assert (overall.passed, overall.outputs, overall.test_cases) == (11, 18, 6)
    assert hold.latency_p95_ms >= hold.latency_p50_ms > 0 and hold.mean_input_tokens > 0
    assert eval_run.gate_passed is False  # no point reaches the default threshold of 0.9

    page = login(people["reviewer"]).get(reverse("evals:detail", args=[eval_run.id])).content.decode()
    assert "hold is a pause" in page and "67%" in page and "50%" in page and "Gate failed" in page


def test_the_gate_compares_each_point_with_the_baseline(project, prompt_version, remote_model, cases, points,
                                                        llm_server, django_capture_on_commit_callbacks, people):
    project.pass_threshold = 0.5
    project.save()
    hold_texts = [c.text for c in cases[:4]]
    llm_server.answer = scripted({})  # everything 'billing': every case fails
    baseline = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1)
    llm_server.answer = scripted({t: ["escalation"] for t in hold_texts})
    better = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1,
                      baseline=baseline)
    verdicts = {r.point_id: r.verdict for r in better.results.all()}
    # 0/4 -> 4/4 cases is p = 0.029 (Fisher): improved; credit 0/2 -> 0/2: unchanged, and below 0.5
    assert verdicts[points["hold"].id] == "improved" and verdicts[points["credit"].id] == "unchanged"
    assert better.gate_passed is False

    llm_server.answer = scripted({t: ["escalation"] for t in hold_texts}
                                 | {c.text: ["technical"] for c in cases[4:]})
    best = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1,
                    baseline=baseline)
    assert best.gate_passed is True
    llm_server.answer = scripted({})
    worse = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1,
                     baseline=best)
    assert worse.results.get(point=points["hold"]).verdict == "regressed"
    gate = api_as(people["reviewer"]).get(reverse("api-eval", args=[worse.id])).json()["gate"]
    assert gate == {"passed": False, "threshold": 0.5, "regressed": ["hold is a pause"],
                    "below_threshold": ["credit is an SLA credit", "hold is a pause"]}


def test_a_resumed_eval_answers_only_what_is_missing(project, prompt_version, remote_model, cases, llm_server,
                                                     django_capture_on_commit_callbacks):
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=2)
    eval_run.outputs.filter(test_case=cases[0]).delete()
    EvalRun.objects.filter(id=eval_run.id).update(status=JobStatus.QUEUED)
    asked = len(llm_server.requests)
    eval_run = eval_execute(eval_id=eval_run.id)
    assert len(llm_server.requests) - asked == 2
    assert eval_run.status == JobStatus.SUCCEEDED and eval_run.outputs.count() == 12
    assert PointResult.objects.filter(eval_run=eval_run, point=None).get().outputs == 12


def test_an_eval_of_only_some_points_and_bad_launches(project, prompt_version, remote_model, cases, points,
                                                      django_capture_on_commit_callbacks):
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1,
                        points=[points["credit"]])
    assert eval_run.total == 2 and set(eval_run.results.values_list("point_id", flat=True)) == {
        None, points["credit"].id}
    empty = point_create(project=project, name="no cases yet")
    with pytest.raises(ApplicationError, match="no test cases"):
        eval_create(project=project, model=remote_model, prompt_version=prompt_version, points=[empty])
    with pytest.raises(ApplicationError, match="Repeats"):
        eval_create(project=project, model=remote_model, prompt_version=prompt_version, repeats=0)


def test_all_calls_failing_fails_the_eval_visibly(project, prompt_version, remote_model, cases, llm_server,
                                                  django_capture_on_commit_callbacks):
    from tests.support.fake_llm import Fault

    remote_model.max_retries = 0
    remote_model.save()
    llm_server.faults.extend(Fault.status_code(500) for _ in range(6))
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1)
    assert eval_run.status == JobStatus.FAILED and "All 6 model calls failed" in eval_run.error
    assert eval_run.outputs.count() == 6  # kept


@pytest.fixture
def ner_project(people):
    project = Project.objects.create(name="Trials", task_kind="ner", entity_types=["DRUG", "DOSE"],
                                     f1_threshold=0.6)
    MembershipFactory(project=project, user=people["lead"], role="lead")
    return project


def test_ner_evals_score_entity_f1_against_the_threshold(ner_project, llm_server, people,
                                                         django_capture_on_commit_callbacks):
    point = point_create(project=ner_project, name="doses")
    text = "Give aspirin 100 mg daily"
    add_test_case(project=ner_project, text=text, points=[point], expected={"entities": [
        {"text": "aspirin", "type": "DRUG"}, {"text": "100 mg", "type": "DOSE"}]})
    add_test_case(project=ner_project, text="Stop ibuprofen now", points=[point],
                     expected={"entities": [{"text": "ibuprofen", "type": "DRUG"}]})
    model = Model.objects.create(project=ner_project, name="NER", base_url=llm_server.base_url, model_id="x",
                                 max_retries=0)
    version = prompt_create(project=ner_project, name="Extract", system="Find {entity_types}.",
                            user_template="{text}").versions.get()

    def answer(body):
        if "aspirin" in body["messages"][-1]["content"]:  # one right, one wrong type: P = R = F1 = 0.5
            return json.dumps({"entities": [{"text": "aspirin", "type": "DRUG"}, {"text": "100 mg", "type": "DRUG"}]})
        return json.dumps({"entities": [{"text": "ibuprofen", "type": "DRUG"}]})

    llm_server.answer = answer
    eval_run = run_eval(ner_project, model, version, django_capture_on_commit_callbacks, repeats=1)
    result = eval_run.results.get(point=point)
    assert [o.score for o in eval_run.outputs.order_by("test_case_id")] == [0.5, 1.0]
    assert (result.passed, result.outputs) == (1, 2)  # 0.5 is below the threshold of 0.6
    # micro: tp 2, fp 1, fn 1 -> P = R = 2/3; macro: mean of 0.5 and 1.0
    assert result.f1_micro == pytest.approx(2 / 3) and result.f1_macro == pytest.approx(0.75)
    page = login(people["lead"]).get(reverse("evals:detail", args=[eval_run.id])).content.decode()
    assert "F1 micro / mean per test case" in page and "0.67 / 0.75" in page and "F1 0.50" in page


def test_generation_evals_are_graded_by_a_judge_model(people, llm_server, django_capture_on_commit_callbacks):
    project = Project.objects.create(name="Replies", task_kind="generation", judge_rubric="Mentions the refund.")
    point = point_create(project=project, name="promises refunds")
    for text in ("I want my money back", "Refund please"):
        add_test_case(project=project, text=text, expected={"answer": "We will refund you."}, points=[point])
    writer = Model.objects.create(project=project, name="Writer", base_url=llm_server.base_url, model_id="w")
    judge = Model.objects.create(project=project, name="Judge", base_url=llm_server.base_url, model_id="judge")
    version = prompt_create(project=project, name="Reply", system="Reply kindly.", user_template="{text}"
                            ).versions.get()

    def answer(body):
        if body["model"] == "judge":
            passed = "refund" in body["messages"][-1]["content"].split("Model's answer:")[1]
            return json.dumps({"reason": "checked the refund", "pass": passed})
        said = "We will refund you" if "money" in body["messages"][-1]["content"] else "Sorry to hear that"
        return json.dumps({"answer": said})

    llm_server.answer = answer
    with pytest.raises(ApplicationError, match="judge"):
        eval_create(project=project, model=writer, prompt_version=version)
    eval_run = run_eval(project, writer, version, django_capture_on_commit_callbacks, repeats=1, judge_model=judge)
    assert eval_run.status == JobStatus.SUCCEEDED
    judged = {o.test_case.text: (o.passed, o.judge_reason) for o in eval_run.outputs.select_related("test_case")}
    assert judged == {"I want my money back": (True, "checked the refund"),
                      "Refund please": (False, "checked the refund")}
    judge_prompt = next(r for r in llm_server.requests if r["model"] == "judge")
    assert "Mentions the refund." in judge_prompt["messages"][0]["content"]
    assert eval_run.results.get(point=point).pass_rate == 0.5
    MembershipFactory(project=project, user=people["reviewer"], role="reviewer")
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[eval_run.id]) + "?result=fail").content.decode()
    assert "judged by Judge" in page and "checked the refund" in page and "Sorry to hear that" in page


def test_a_fine_tune_is_evaluated_against_its_base(project, prompt_version, remote_model, cases, points,
                                                   llm_server, django_capture_on_commit_callbacks, people):
    from apps.tuning.models import FineTuneJob

    tuned = Model.objects.create(project=project, name="Fake GPT tuned", base_url=llm_server.base_url,
                                 model_id="tuned", parent=remote_model)
    job = FineTuneJob.objects.create(project=project, base_model=remote_model, backend="openai", status="SUCCEEDED",
                                     result_model=tuned, training_file_sha256="0" * 64)
    job.points.set([points["hold"]])
    llm_server.answer = lambda body: json.dumps({"label": "escalation" if body["model"] == "tuned" else "billing"})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = login(people["lead"]).post(reverse("evals:finetune", args=[job.id]),
                                              {"prompt_version": prompt_version.id, "repeats": 1})
    assert response.status_code == 302 and len(callbacks) == 2
    tuned_eval = EvalRun.objects.get(model=tuned)
    base_eval = tuned_eval.baseline
    assert base_eval.model == remote_model and base_eval.test_case_ids == tuned_eval.test_case_ids
    assert len(tuned_eval.test_case_ids) == 4  # the hold point's test cases only
    # The fine-tuned eval finishes first; its verdicts appear when the base's finishes.
    eval_execute(eval_id=tuned_eval.id)
    assert tuned_eval.results.get(point=points["hold"]).verdict == ""
    eval_execute(eval_id=base_eval.id)
    assert tuned_eval.results.get(point=points["hold"]).verdict == "improved"
    page = login(people["lead"]).get(reverse("evals:detail", args=[tuned_eval.id])).content.decode()
    assert "improved" in page and "Baseline" in page
    with pytest.raises(ApplicationError, match="not produced a model"):
        job.result_model = None
        evals_for_finetune(job=job, prompt_version=prompt_version)


def test_invalid_answers_are_never_consistent(project, prompt_version, remote_model, cases, llm_server,
                                              django_capture_on_commit_callbacks):
    llm_server.answer = lambda body: "I think it is about billing, probably."  # no JSON: every answer invalid
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=3)
    overall = eval_run.results.get(point=None)
    assert overall.outputs == 18 and overall.passed == 0
    assert overall.consistency == 0.0 and overall.paraphrase_agreement == 0.0
    keys = list(eval_run.outputs.values_list("answer_key", flat=True))
    assert len(set(keys)) == 18  # each non-answer has a key of its own


def test_eval_answers_open_their_graded_source_in_review_or_the_test_case(
        project, people, graded_run, prompt_version, remote_model, cases, django_capture_on_commit_callbacks):
    from apps.review.services import grade_submit

    output = graded_run.outputs.order_by("record__position").first()
    grade_submit(output=output, reviewer=people["lead"], corrected_answer={"label": "technical"},
                 make_test_case=True)
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks)
    url = reverse("evals:detail", args=[eval_run.id])
    review_link = f'href="{reverse("review:output", args=[graded_run.id, output.id])}"'
    lead_page = login(people["lead"]).get(url).content.decode()
    assert review_link in lead_page and lead_page.count(">Open test case<") == len(cases) * eval_run.repeats
    reviewer_page = login(people["reviewer"]).get(url).content.decode()
    assert review_link in reviewer_page and "Open test case" not in reviewer_page
