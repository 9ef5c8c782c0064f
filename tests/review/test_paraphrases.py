"""Paraphrase proposals: a lead asks a model (the fake OpenAI-compatible server) for paraphrases of a test case,
then accepts (maybe edited) or rejects each; an accepted one is a test case in the original's paraphrase group,
through the leakage guard. The job is run here by calling it as the worker would; tests/review/test_tasks.py
runs one on a worker."""

import json

import pytest
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.core.models import JobStatus
from apps.review import paraphrases
from apps.review.models import ParaphraseProposal, ParaphraseRequest, ProposalStatus, TestCase, TrainingExample
from apps.review.services import point_create, text_hash
from apps.review.services import test_case_create as add_test_case
from tests.conftest import api_as, htmx_as, login
from tests.support.fake_llm import Fault

HOLD = "Please put my account on hold while I travel"
SAID = ["Pause my account while I am away", "While I travel, hold my account please",
        "Could you freeze my account during my trip?"]


@pytest.fixture
def case(project):
    return add_test_case(project=project, text=HOLD, expected={"label": "escalation"},
                         points=[point_create(project=project, name="hold is a pause")])


def replying(llm_server, *texts: str) -> None:
    llm_server.answer = lambda body: json.dumps({"paraphrases": list(texts)})


def asked(case, model, count=3) -> ParaphraseRequest:
    """A request made and run as the worker would run it."""
    request = paraphrases.paraphrases_request(case=case, model=model, count=count)
    return paraphrases.paraphrase_request_run(request_id=request.id)


def test_a_lead_asks_a_model_and_its_paraphrases_are_proposed(case, remote_model, llm_server, people,
                                                             django_capture_on_commit_callbacks):
    replying(llm_server, *SAID)
    url = reverse("review:paraphrases", args=[case.id])
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = login(people["lead"]).post(url, {"model": remote_model.id, "count": 3})
    assert response.status_code == 302 and len(sent) == 1  # the job's task, sent once the request commits
    request = ParaphraseRequest.objects.get()
    assert request.status == JobStatus.QUEUED and request.count == 3 and request.created_by == people["lead"]
    page = login(people["lead"]).get(url).content.decode()
    assert "Waiting for a worker" in page and 'hx-trigger="every 1s"' in page
    assert htmx_as(people["lead"], target="paraphrase-status").get(url).content.decode().strip().startswith(
        '<div id="paraphrase-status"')

    paraphrases.paraphrase_request_run(request_id=request.id)
    request.refresh_from_db()
    assert request.status == JobStatus.SUCCEEDED
    assert [p.text for p in case.paraphrase_proposals.order_by("id")] == SAID
    body = llm_server.requests[-1]
    schema = body["response_format"]["json_schema"]["schema"]  # the structured-output path every call takes
    assert schema["required"] == ["paraphrases"] and body["messages"][-1]["content"] == HOLD
    assert '"label": "escalation"' in body["messages"][0]["content"] and "3 paraphrases" in body["messages"][0][
        "content"]
    finished = htmx_as(people["lead"], target="paraphrase-status").get(url)
    assert finished.status_code == 286 and finished["HX-Retarget"] == "main"  # the page swaps in its proposals
    page = finished.content.decode()
    assert page.count('class="card proposal proposed"') == 3 and page.count(">Accept</button>") == 3


def test_accepting_makes_a_test_case_in_the_originals_group(case, remote_model, llm_server, people):
    replying(llm_server, *SAID)
    asked(case, remote_model)
    first, second, third = case.paraphrase_proposals.order_by("id")
    response = login(people["lead"]).post(reverse("review:proposal_accept", args=[first.id]),
                                          {"text": "Pause   my account while I'm away"})
    assert response.status_code == 302
    first.refresh_from_db()
    case.refresh_from_db()
    made = first.accepted_as
    assert first.status == ProposalStatus.ACCEPTED and first.decided_by == people["lead"]
    assert made.text == first.text == "Pause my account while I'm away"  # as the lead edited it
    assert made.expected == case.expected and list(made.points.all()) == list(case.points.all())
    assert case.paraphrase_group == made.paraphrase_group == f"tc-{case.id}"
    paraphrases.proposal_accept(proposal=second, user=people["lead"])
    assert TestCase.objects.filter(paraphrase_group=f"tc-{case.id}").count() == 3
    paraphrases.proposal_reject(proposal=third, user=people["lead"])
    third.refresh_from_db()
    assert third.status == ProposalStatus.REJECTED and third.accepted_as is None
    with pytest.raises(ApplicationError, match="already rejected"):
        paraphrases.proposal_accept(proposal=third, user=people["lead"])
    page = login(people["reviewer"]).get(reverse("review:paraphrases", args=[case.id])).content.decode()
    assert f"Test case #{made.id}" in page and "Already in its group" in page
    assert ">Accept</button>" not in page and "Propose paraphrases" not in page  # reviewers read only


def test_a_group_the_original_already_has_is_kept(project, remote_model, llm_server, people):
    original = add_test_case(project=project, text=HOLD, expected={"label": "escalation"}, paraphrase_group="pause")
    replying(llm_server, SAID[0])
    asked(original, remote_model, count=1)
    proposal = paraphrases.proposal_accept(proposal=original.paraphrase_proposals.get(), user=people["lead"])
    assert proposal.accepted_as.paraphrase_group == "pause"


def test_the_leakage_guard_refuses_a_proposal_that_is_a_training_example(case, project, remote_model, llm_server,
                                                                         people):
    example = TrainingExample.objects.create(project=project, messages=[], answer={"label": "escalation"},
                                             text=SAID[0], text_hash=text_hash(SAID[0]))
    replying(llm_server, SAID[0].upper() + "!")  # the same text for the guard: case and punctuation aside
    asked(case, remote_model, count=1)
    proposal = case.paraphrase_proposals.get()
    response = login(people["lead"]).post(reverse("review:proposal_accept", args=[proposal.id]), follow=True)
    page = response.content.decode()
    assert f"training example #{example.id}" in page and "Not added" in page
    assert 'class="msg error refusal"' in page  # the refusal stays beside the proposal
    proposal.refresh_from_db()
    case.refresh_from_db()
    assert proposal.status == ProposalStatus.PROPOSED and f"training example #{example.id}" in proposal.refusal
    assert TestCase.objects.count() == 1 and case.paraphrase_group == ""  # nothing of the refused try is kept
    edited = paraphrases.proposal_accept(proposal=proposal, user=people["lead"], text="Freeze my account a while")
    assert edited.status == ProposalStatus.ACCEPTED and edited.refusal == ""


def test_a_malformed_reply_fails_the_request_with_its_reason(case, remote_model, llm_server, people):
    llm_server.answer = lambda body: "Sure! Here are some paraphrases: 1. Pause my account"
    request = asked(case, remote_model)
    assert request.status == JobStatus.FAILED and "not a list of paraphrases" in request.error
    assert "not JSON" in request.error and not ParaphraseProposal.objects.exists()
    llm_server.answer = lambda body: json.dumps({"paraphrases": "Pause my account"})
    request = asked(case, remote_model)
    assert request.status == JobStatus.FAILED and "is not of type 'array'" in request.error
    page = login(people["reviewer"]).get(reverse("review:paraphrases", args=[case.id])).content.decode()
    assert page.count('class="msg error paraphrase-failed"') == 2


def test_a_failed_call_fails_the_request(case, remote_model, llm_server):
    remote_model.max_retries = 0
    remote_model.save()
    llm_server.faults.append(Fault.status_code(500, message="the server fell over"))
    request = asked(case, remote_model)
    assert request.status == JobStatus.FAILED and request.error.startswith("The model call failed")
    assert "500" in request.error


def test_blank_repeated_and_copied_paraphrases_are_left_out_with_a_notice(case, remote_model, llm_server, people):
    replying(llm_server, SAID[0], " ", SAID[0].lower(), HOLD + ".", SAID[1], SAID[2])
    request = asked(case, remote_model, count=2)
    assert [p.text for p in case.paraphrase_proposals.order_by("id")] == SAID[:2]  # at most the count asked
    assert request.notices == []
    request = asked(case, remote_model, count=5)
    assert len(request.notices) == 1 and "3 usable paraphrases of the 5 asked for" in request.notices[0]
    assert "3 usable paraphrases" in login(people["lead"]).get(
        reverse("review:paraphrases", args=[case.id])).content.decode()


@pytest.mark.parametrize("count", [0, 11])
def test_the_count_is_bounded(case, remote_model, people, count):
    response = login(people["lead"]).post(reverse("review:paraphrases", args=[case.id]),
                                          {"model": remote_model.id, "count": count})
    assert response.status_code == 200 and "Ensure this value is" in response.content.decode()
    api = api_as(people["lead"]).post(reverse("api-paraphrases", args=[case.id]),
                                      {"model": remote_model.id, "count": count}, format="json")
    assert api.status_code == 400 and "count" in api.json()
    with pytest.raises(ApplicationError, match="1 to 10"):
        paraphrases.paraphrases_request(case=case, model=remote_model, count=count)
    assert not ParaphraseRequest.objects.exists()


def test_a_model_of_another_project_cannot_be_asked(case, people):
    from apps.llm.models import Model
    from tests.factories import ProjectFactory

    elsewhere = Model.objects.create(project=ProjectFactory(), name="Theirs", provider="local")
    api = api_as(people["lead"]).post(reverse("api-paraphrases", args=[case.id]), {"model": elsewhere.id},
                                      format="json")
    assert api.status_code == 400 and "model" in api.json()


def test_the_api_asks_follows_and_decides(case, project, remote_model, llm_server, people,
                                          django_capture_on_commit_callbacks):
    replying(llm_server, *SAID)
    lead = api_as(people["lead"])
    with django_capture_on_commit_callbacks(execute=False):
        response = lead.post(reverse("api-paraphrases", args=[case.id]), {"model": remote_model.id}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "QUEUED" and body["count"] == 3 and body["proposals"] == []
    paraphrases.paraphrase_request_run(request_id=body["id"])
    followed = api_as(people["reviewer"]).get(reverse("api-paraphrase-request", args=[body["id"]])).json()
    assert followed["status"] == "SUCCEEDED" and [p["text"] for p in followed["proposals"]] == SAID
    listed = api_as(people["reviewer"]).get(reverse("api-paraphrases", args=[case.id])).json()
    assert listed["count"] == 3 and {p["status"] for p in listed["results"]} == {"proposed"}
    first, second, _ = (p["id"] for p in followed["proposals"])

    accepted = lead.post(reverse("api-proposal-accept", args=[first]), {"text": "Hold it all while I'm away"},
                         format="json")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    made = TestCase.objects.get(id=accepted.json()["accepted_as"])
    assert made.text == "Hold it all while I'm away" and made.paraphrase_group == f"tc-{case.id}"

    TrainingExample.objects.create(project=project, messages=[], answer={"label": "escalation"}, text=SAID[1],
                                   text_hash=text_hash(SAID[1]))
    refused = lead.post(reverse("api-proposal-accept", args=[second]), {}, format="json")
    assert refused.status_code == 400 and "training example" in refused.json()["detail"]
    assert "training example" in lead.get(reverse("api-paraphrases", args=[case.id])).json()["results"][1]["refusal"]
    rejected = lead.post(reverse("api-proposal-reject", args=[second]))
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert lead.post(reverse("api-proposal-reject", args=[second])).status_code == 400  # decided already
