"""People grade eval answers, and the judge is checked against them (issue: scores people can trust).

Evals run in-process against the fake OpenAI-compatible server; the judge is the same server under another model
name. Agreement figures are compared with scikit-learn's on the same verdicts."""

import csv
import io
import json

import pytest
from django.urls import reverse
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from apps.core.exceptions import ApplicationError
from apps.evals import calibration
from apps.evals.human_review import eval_review_send
from apps.evals.models import EvalOutput
from apps.llm.models import Model
from apps.projects.models import Project
from apps.prompts.models import PromptPurpose
from apps.prompts.services import prompt_create
from apps.review.models import TrainingExample
from apps.review.services import adjudicate, grade_submit, grade_undo, point_create
from apps.review.services import test_case_create as add_test_case
from tests.conftest import api_as, login
from tests.evals.conftest import run_eval, scripted
from tests.factories import MembershipFactory, UserFactory

# One repeat: hold cases 2 of 4 right, credit cases 1 of 2 right.
ANSWERS = {"Please hold my account": ["escalation"], "Put my deliveries on hold": ["escalation"],
           "Where is my credit for the outage": ["technical"]}


def with_judge(answer_task, judge_says):
    """Answer the task with `answer_task`, and the judge (model id 'judge') with `judge_says(user message)`."""
    def answer(body):
        if body["model"] == "judge":
            return json.dumps({"reason": "compared", "pass": judge_says(body["messages"][-1]["content"])})
        return answer_task(body)
    return answer


@pytest.fixture
def judge(project, llm_server):
    return Model.objects.create(project=project, name="Judge", base_url=llm_server.base_url, model_id="judge")


def by_text(eval_run) -> dict:
    return {o.test_case.text: o for o in eval_run.outputs.select_related("test_case")}


@pytest.mark.parametrize("pairs", [
    [(True, True)] * 5 + [(False, False)] * 3 + [(True, False)] * 2 + [(False, True)],
    [(True, True)] * 7 + [(True, False)] * 3,
    [(False, False)] * 4 + [(False, True)] * 4 + [(True, True)],
])
def test_agreement_figures_equal_scikit_learn(pairs):
    judge, people = [j for j, _ in pairs], [h for _, h in pairs]
    a = calibration.Agreement(
        both_pass=pairs.count((True, True)), judge_only_pass=pairs.count((True, False)),
        people_only_pass=pairs.count((False, True)), both_fail=pairs.count((False, False)))
    assert a.kappa == pytest.approx(cohen_kappa_score(judge, people))
    (tn, fp), (fn, tp) = confusion_matrix(people, judge, labels=[False, True])  # rows: people; columns: judge
    assert a.true_positive_rate == pytest.approx(tp / (tp + fn))
    assert (a.true_negative_rate is None) if not tn + fp else a.true_negative_rate == pytest.approx(tn / (tn + fp))
    assert a.answers == len(pairs) and a.agreed == tp + tn


def test_failing_answers_go_to_review_and_peoples_verdicts_become_the_answers(
        project, prompt_version, remote_model, cases, points, llm_server, django_capture_on_commit_callbacks,
        people):
    llm_server.answer = scripted(ANSWERS)
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1)
    hold = eval_run.results.get(point=points["hold"])
    assert (hold.passed, hold.outputs) == (2, 4)
    sent = eval_review_send(eval_run=eval_run, which="failing", user=people["lead"])
    failing = {o.test_case.text for o in eval_run.outputs.filter(passed=False).select_related("test_case")}
    assert sent.count == len(failing) == 3 and sent.left_out == 0
    outputs = {o.record.text: o for o in sent.run.outputs.select_related("record")}
    assert set(outputs) == failing
    hold_case = outputs["Hold everything while I travel"]
    assert hold_case.answer == {"label": "billing"}
    assert hold_case.record.metadata["expected_answer"] == {"label": "escalation"}
    assert hold_case.messages[-1]["content"] == "Ticket: Hold everything while I travel"
    with pytest.raises(ApplicationError, match="No answers to send"):
        eval_review_send(eval_run=eval_run, which="failing", user=people["lead"])

    # A reviewer says the model was right after all: the answer passes and the results follow.
    grade_submit(output=hold_case, reviewer=people["reviewer"], verdict="pass")
    answer = by_text(eval_run)["Hold everything while I travel"]
    assert (answer.human_passed, answer.auto_passed, answer.passed, answer.verdict_source) == (True, False, True,
                                                                                                "human")
    hold = eval_run.results.get(point=points["hold"])
    assert (hold.passed, hold.test_cases_passed) == (3, 3)
    page = login(people["lead"]).get(reverse("evals:detail", args=[eval_run.id])).content.decode()
    assert "<strong>1</strong> by people" in page and "<strong>5</strong> by the rule" in page
    assert "the rule said fail" in page
    exported = login(people["lead"]).get(reverse("evals:export", args=[eval_run.id, "outputs"]))
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode()
                                       if exported.streaming else exported.content.decode())))
    by_case = {row[2]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_case["Hold everything while I travel"]["verdict by"] == "human"
    assert by_case["Hold everything while I travel"]["automatic verdict"] == "False"
    assert by_case["Hold everything while I travel"]["people's verdict"] == "True"

    # Two reviewers split: no verdict of people until a lead settles it.
    other = MembershipFactory(project=project, user=UserFactory(username="second"), role="reviewer").user
    grade_submit(output=hold_case, reviewer=other, verdict="fail")
    assert by_text(eval_run)["Hold everything while I travel"].passed is False  # split: the rule's stands
    adjudicate(output=hold_case, lead=people["lead"], verdict="pass")
    assert by_text(eval_run)["Hold everything while I travel"].human_passed is True
    assert eval_run.results.get(point=points["hold"]).passed == 3

    # Taking a grade back takes its verdict back.
    hold_case.adjudication.delete()
    grade_undo(reviewer=people["reviewer"], run=sent.run)
    grade_undo(reviewer=other, run=sent.run)
    answer = by_text(eval_run)["Hold everything while I travel"]
    assert (answer.human_passed, answer.passed) == (None, False)
    assert eval_run.results.get(point=points["hold"]).passed == 2


def test_a_grade_of_an_eval_answer_tags_points_but_never_makes_training_data_of_a_test_case(
        project, prompt_version, remote_model, cases, llm_server, django_capture_on_commit_callbacks, people):
    llm_server.answer = scripted(ANSWERS)
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1)
    sent = eval_review_send(eval_run=eval_run, which="failing", user=people["lead"])
    output = sent.run.outputs.select_related("record").get(record__text="Hold everything while I travel")
    result = grade_submit(output=output, reviewer=people["reviewer"], corrected_answer={"label": "escalation"},
                          point_names=["travel holds"])
    assert result.grade.points.get().name == "travel holds"
    assert result.refused and "test case" in result.refused[0]
    assert not TrainingExample.objects.filter(project=project).exists()
    assert by_text(eval_run)["Hold everything while I travel"].human_passed is False


def test_a_judge_grades_classification_beside_the_rule_and_disagreements_go_to_review(
        project, prompt_version, remote_model, judge, cases, llm_server, django_capture_on_commit_callbacks, people):
    # The judge passes every answer: it disagrees with the rule on the wrong labels.
    llm_server.answer = with_judge(scripted(ANSWERS), lambda message: True)
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1,
                        judge_model=judge)
    outputs = list(eval_run.outputs.all())
    assert {o.judge_passed for o in outputs} == {True} and {o.auto_by for o in outputs} == {"rule"}
    assert sum(o.passed for o in outputs) == 3  # the rule's verdicts stand
    judge_version = eval_run.judge_prompt_version
    assert judge_version.template.purpose == PromptPurpose.JUDGE
    sent = eval_review_send(eval_run=eval_run, which="disagree", user=people["lead"])
    assert sent.count == 3
    for output in sent.run.outputs.all():
        grade_submit(output=output, reviewer=people["reviewer"], verdict="fail")
    [overall] = [row["agreement"] for row in calibration.eval_agreement(eval_run) if row["point_id"] is None]
    assert (overall.answers, overall.judge_only_pass, overall.kappa) == (3, 3, 0.0)
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[eval_run.id]) + "?result=disagree")
    html = page.content.decode()
    assert 'id="judge-agreement"' in html and "judge: pass" in html and "by people" in html


def generation_project(llm_server, **settings):
    project = Project.objects.create(name="Replies", task_kind="generation", judge_rubric="Mentions the refund.",
                                     **settings)
    point = point_create(project=project, name="promises refunds")
    for text in ("I want my money back", "Refund please", "Money back now", "Give me a refund"):
        add_test_case(project=project, text=text, expected={"answer": "We will refund you."}, points=[point])
    writer = Model.objects.create(project=project, name="Writer", base_url=llm_server.base_url, model_id="w")
    judge = Model.objects.create(project=project, name="Judge", base_url=llm_server.base_url, model_id="judge")
    version = prompt_create(project=project, name="Reply", system="Reply kindly.", user_template="{text}"
                            ).versions.get()
    return project, point, writer, judge, version


def test_an_untrusted_judge_cannot_pass_the_gate_alone_and_a_new_judge_prompt_is_measured_afresh(
        llm_server, django_capture_on_commit_callbacks, people):
    project, point, writer, judge, version = generation_project(llm_server, judge_min_answers=4,
                                                                judge_min_kappa=0.5, pass_threshold=0.5)
    MembershipFactory(project=project, user=people["reviewer"], role="reviewer")
    MembershipFactory(project=project, user=people["lead"], role="lead")
    llm_server.answer = with_judge(lambda body: json.dumps({"answer": "Sorry."}), lambda message: True)
    first = run_eval(project, writer, version, django_capture_on_commit_callbacks, repeats=1, judge_model=judge)
    assert {(o.auto_by, o.passed) for o in first.outputs.all()} == {("judge", True)}
    assert first.gate_passed is True and calibration.judge_trust(first).state == calibration.UNMEASURED
    assert "Mentions the refund." in first.judge_prompt_version.system
    assert first.judge_prompt_version.template.name == "Judge"

    # People fail three of four answers the judge passed: kappa 0 on 4 answers, below 0.5.
    sent = eval_review_send(eval_run=first, which="all", user=people["lead"])
    outputs = list(sent.run.outputs.order_by("id"))
    for output in outputs[:3]:
        grade_submit(output=output, reviewer=people["reviewer"], verdict="fail")
    first.refresh_from_db()
    assert calibration.judge_trust(first).state == calibration.UNMEASURED  # 3 of the 4 answers it needs
    assert first.gate_passed is False and first.gate_note == ""  # 1/4 passes now: below the threshold
    grade_submit(output=outputs[3], reviewer=people["reviewer"], verdict="pass")
    trust = calibration.judge_trust(first)
    assert trust.state == calibration.UNTRUSTED and trust.agreement.kappa == pytest.approx(0.0)

    # The next eval with the same judge rests on it alone: the gate refuses and says why.
    second = run_eval(project, writer, version, django_capture_on_commit_callbacks, repeats=1, judge_model=judge)
    assert second.judge_prompt_version_id == first.judge_prompt_version_id
    assert second.gate_passed is False and "not trusted" in second.gate_note and "4 verdicts" in second.gate_note
    api = api_as(people["lead"]).get(f"/api/evals/{second.id}/").json()
    assert api["gate"]["passed"] is False and "not trusted" in api["gate_message"]
    assert api["judge_trust"]["state"] == "untrusted" and api["verdicts"]["judge"] == 4
    page = login(people["reviewer"]).get(reverse("evals:detail", args=[second.id])).content.decode()
    assert "Gate failed" in page and "not trusted" in page

    # A changed rubric is a new judge prompt version, measured afresh: its gate is not held back.
    project.judge_rubric = "Mentions the refund and says when."
    project.save()
    third = run_eval(project, writer, version, django_capture_on_commit_callbacks, repeats=1, judge_model=judge)
    assert third.judge_prompt_version.number == 2 and "says when" in third.judge_prompt_version.system
    assert calibration.judge_trust(third).state == calibration.UNMEASURED and third.gate_passed is True
    judge_prompt_call = [r for r in llm_server.requests if r.get("model") == "judge"][-1]
    assert "says when" in judge_prompt_call["messages"][0]["content"]
    dashboard = login(people["reviewer"]).get(reverse("evals:dashboard", args=[project.id])).content.decode()
    judges = dashboard[dashboard.index('id="judges"'):]
    assert judges.index("Judge v1") < judges.index("untrusted") < judges.index("Judge v2")
    assert "not measured yet" in judges


def test_the_api_sends_to_review_and_reports_verdicts_and_agreement(
        project, prompt_version, remote_model, judge, cases, llm_server, django_capture_on_commit_callbacks, people):
    llm_server.answer = with_judge(scripted(ANSWERS), lambda message: '"billing"' not in message.split(
        "Model's answer:")[1])
    eval_run = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=1,
                        judge_model=judge)
    assert api_as(people["reviewer"]).post(f"/api/evals/{eval_run.id}/review/", {"which": "all"},
                                           format="json").status_code == 403
    bad = api_as(people["lead"]).post(f"/api/evals/{eval_run.id}/review/", {"which": "sample", "sample_size": 0},
                                      format="json")
    assert bad.status_code == 400 and "sample_size" in bad.json()
    sent = api_as(people["lead"]).post(f"/api/evals/{eval_run.id}/review/", {"which": "sample", "sample_size": 4},
                                       format="json")
    assert sent.status_code == 201 and sent.json()["sent"] == 4
    detail = api_as(people["reviewer"]).get(f"/api/evals/{eval_run.id}/").json()
    assert detail["verdicts"] == {"human": 0, "judge": 0, "rule": 6, "unscored": 0, "in_review": 4}
    assert detail["judge_trust"]["state"] == "not measured yet" and detail["judge_agreement"][0]["answers"] == 0
    # People agree with the rule on every sampled answer; the judge is right exactly where the rule is.
    run_outputs = EvalOutput.objects.filter(eval_run=eval_run).exclude(review_output=None).select_related(
        "review_output")
    for answer in run_outputs:
        grade_submit(output=answer.review_output, reviewer=people["reviewer"],
                     verdict="pass" if answer.auto_passed else "fail")
    detail = api_as(people["reviewer"]).get(f"/api/evals/{eval_run.id}/").json()
    overall = detail["judge_agreement"][0]
    assert detail["verdicts"]["human"] == 4 and overall["answers"] == 4 and overall["kappa"] in (1.0, None)
    assert overall["agreed"] == 4 and overall["judge_only_pass"] == overall["people_only_pass"] == 0
