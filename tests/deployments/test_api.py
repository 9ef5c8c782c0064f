"""The endpoints an application calls: the task endpoint, the gateway and feedback, with deployment keys."""

import json

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from apps.deployments import services
from apps.deployments.models import Feedback, Trace
from apps.deployments.trace_buffer import BUFFER
from apps.runs.models import Output
from tests.support.fake_llm import Fault

from .conftest import bearer

PREDICT = "/api/deployments/ticket-router/predict"
CHAT = "/v1/chat/completions"


def post(url, body, secret=None, **headers):
    extra = bearer(secret) if secret else {}
    return Client().post(url, json.dumps(body), content_type="application/json", **extra, **headers)


def test_predict_answers_with_the_kind_answer_trace_and_versions(key, deployment, llm_server):
    response = post(PREDICT, {"text": "My invoice is wrong", "metadata": {"user": "u1"}}, key.secret)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["label"] == "billing" and body["valid"] is True and body["problems"] == []
    assert body["versions"]["deployment"] == "ticket-router"
    assert body["versions"]["model"]["id"] == deployment.model_id
    assert body["versions"]["prompt_version"]["id"] == deployment.prompt_version_id
    assert isinstance(body["latency_ms"], int)
    # The deployment's prompt version was rendered: the model saw the system prompt and the ticket.
    sent = llm_server.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and "Route the ticket" in sent[0]["content"]
    assert "My invoice is wrong" in sent[-1]["content"]
    assert Trace.objects.count() == 0  # written by the buffer, not by the request
    assert BUFFER.flush() == 1
    trace = Trace.objects.get(id=body["trace_id"])
    assert trace.answer == {"label": "billing"} and trace.metadata == {"user": "u1"} and trace.valid
    assert trace.messages == sent and trace.model_id == deployment.model_id and trace.categories == ["billing"]


def test_predict_takes_a_list_of_inputs(key, llm_server):
    response = post(PREDICT, [{"text": f"Ticket {i}"} for i in range(5)], key.secret)
    assert response.status_code == 200
    assert [r["label"] for r in response.json()] == ["billing"] * 5
    assert len({r["trace_id"] for r in response.json()}) == 5
    assert BUFFER.flush() == 5


def test_predict_refuses_more_than_100_inputs(key):
    response = post(PREDICT, [{"text": "x"}] * 101, key.secret)
    assert response.status_code == 400 and "between 1 and 100" in response.json()["error"]["message"]


def test_invalid_answer_is_200_with_valid_false_and_problems(key, llm_server):
    llm_server.answer = lambda body: '{"label": "refunds"}'
    response = post(PREDICT, {"text": "Refund me"}, key.secret)
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False and body["problems"] == ["'refunds' is not one of the project's labels"]


def test_unreachable_model_is_502_in_openai_error_shape(key, deployment):
    deployment.model.base_url = "http://127.0.0.1:9/v1"
    deployment.model.save()
    services.forget_keys()
    response = post(PREDICT, {"text": "Hello"}, key.secret)
    assert response.status_code == 502
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Could not reach the model at http://127.0.0.1:9/v1" in error["message"]
    BUFFER.flush()
    assert Trace.objects.get().status == "error"


def test_model_server_not_running_is_502_that_says_so(key, deployment, project, settings, prompt_version):
    from apps.evals.models import EvalRun
    from apps.llm.models import Model

    settings.TASKLLM_MODEL_SERVER_URL = "http://127.0.0.1:9/v1"
    local = Model.objects.create(project=project, name="Bundled", provider="local")
    services.promotion_create(deployment=deployment, model=local, prompt_version=prompt_version, reason="local",
                              override_reason="testing", user=deployment.project.memberships.get(role="admin").user)
    assert not EvalRun.objects.filter(model=local).exists()
    response = post(PREDICT, {"text": "Hello"}, key.secret)
    assert response.status_code == 502
    assert "model server is not running" in response.json()["error"]["message"]


def test_server_error_from_the_model_is_502(key, llm_server):
    llm_server.faults.append(Fault.status_code(500))
    response = post(PREDICT, {"text": "Hello"}, key.secret)
    assert response.status_code == 502 and "answered 500" in response.json()["error"]["message"]


def test_unknown_slug_is_404(key):
    response = post("/api/deployments/nope/predict", {"text": "x"}, key.secret)
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


def test_revoked_key_is_401(key):
    assert post(PREDICT, {"text": "x"}, "tlk_not-a-key").status_code == 401
    services.key_revoke(key=key)
    response = post(PREDICT, {"text": "x"}, key.secret)
    assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"


def test_missing_key_is_401(key):
    assert post(PREDICT, {"text": "x"}).status_code == 401


def test_a_members_token_and_session_are_not_accepted(key, people):
    token = Token.objects.create(user=people["admin"])
    assert post(PREDICT, {"text": "x"}, token.key).status_code == 401
    assert post(PREDICT, {"text": "x"}, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 401
    client = Client()
    client.force_login(people["admin"])
    assert client.post(PREDICT, '{"text": "x"}', content_type="application/json").status_code == 401


def test_a_key_of_another_deployment_does_not_open_this_one(key, deployment, project, people):
    other = services.deployment_create(project=project, slug="other")
    _, other_secret = services.key_create(deployment=other, name="Other")
    assert post(PREDICT, {"text": "x"}, other_secret).status_code == 404


def test_rate_limit_per_key_answers_429_with_retry_after(deployment, llm_server):
    key, secret = services.key_create(deployment=deployment, name="Slow", rate_limit_per_minute=2)
    assert post(PREDICT, {"text": "a"}, secret).status_code == 200
    assert post(PREDICT, {"text": "b"}, secret).status_code == 200
    response = post(PREDICT, {"text": "c"}, secret)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_wrong_method_is_405(key):
    assert Client().get(PREDICT, **bearer(key.secret)).status_code == 405
    assert Client().get(CHAT, **bearer(key.secret)).status_code == 405


# --- the gateway ----------------------------------------------------------------------------

def test_gateway_passes_messages_through_and_traces(key, deployment, llm_server):
    llm_server.answer = lambda body: '{"label": "technical"}'
    messages = [{"role": "system", "content": "Mine"}, {"role": "user", "content": "The app crashes"}]
    response = post(CHAT, {"model": "ticket-router", "messages": messages}, key.secret)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "ticket-router"
    assert body["choices"][0]["message"]["content"] == '{"label": "technical"}'
    assert llm_server.requests[-1]["messages"] == messages
    assert llm_server.requests[-1]["model"] == "fake-1"
    BUFFER.flush()
    trace = Trace.objects.get(id=response["X-TaskLLM-Trace-Id"])
    assert trace.endpoint == "chat" and trace.text == "The app crashes" and trace.answer == {"label": "technical"}


def test_gateway_streams_through(key, llm_server):
    llm_server.answer = lambda body: '{"label": "billing"} done'
    response = post(CHAT, {"model": "ticket-router", "stream": True,
                           "messages": [{"role": "user", "content": "Invoice"}]}, key.secret)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    lines = b"".join(response.streaming_content).decode().splitlines()
    chunks = [json.loads(line[5:]) for line in lines if line.startswith("data:") and "[DONE]" not in line]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == '{"label": "billing"} done'
    BUFFER.flush()
    trace = Trace.objects.get(id=response["X-TaskLLM-Trace-Id"])
    assert trace.raw_text == '{"label": "billing"} done' and trace.answer == {"label": "billing"}


@pytest.mark.django_db(transaction=True)  # closing the response ends the request, and its database connection
def test_a_stream_its_caller_leaves_early_is_traced_as_disconnected(key, deployment, llm_server):
    deployment.sample_invalid = True
    deployment.save()
    services.forget_keys()
    llm_server.answer = lambda body: '{"label": "billing"} and many more words'
    response = post(CHAT, {"model": "ticket-router", "stream": True,
                           "messages": [{"role": "user", "content": "Invoice"}]}, key.secret)
    first = next(iter(response.streaming_content))
    response.close()  # what the WSGI server does when the caller goes away

    assert first.startswith(b"data:")
    BUFFER.flush()
    trace = Trace.objects.get(id=response["X-TaskLLM-Trace-Id"])
    assert trace.status == "disconnected" and not trace.valid and trace.text == "Invoice"
    assert "disconnected" in trace.error
    assert trace.sampled_reason == ""  # a caller leaving says nothing about the model's answer


def test_gateway_errors(key, deployment):
    assert post(CHAT, {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, key.secret).status_code \
        == 404
    assert post(CHAT, {"model": "ticket-router"}, key.secret).status_code == 400
    assert post(CHAT, {"model": "ticket-router", "messages": [{"role": "user", "content": "x"}]}).status_code == 401
    deployment.model.base_url = "http://127.0.0.1:9/v1"
    deployment.model.save()
    services.forget_keys()
    response = post(CHAT, {"model": "ticket-router", "messages": [{"role": "user", "content": "x"}]}, key.secret)
    assert response.status_code == 502 and response.json()["error"]["type"] == "api_error"


# --- feedback and sampling --------------------------------------------------------------------

def test_feedback_with_the_deployment_key_and_a_correction_samples_into_review(key, deployment, llm_server):
    trace_id = post(PREDICT, {"text": "Charged twice"}, key.secret).json()["trace_id"]
    response = post(f"/api/traces/{trace_id}/feedback", {"thumbs": "down", "correct_answer": {"label": "technical"},
                                                        "comment": "wrong team"}, key.secret)
    assert response.status_code == 201, response.content
    feedback = Feedback.objects.get()
    assert feedback.thumbs == "down" and feedback.correct_answer == {"label": "technical"}
    trace = Trace.objects.get(id=trace_id)
    assert trace.sampled_reason == "user correction"
    output = Output.objects.select_related("record", "run").get(id=trace.review_output_id)
    assert output.answer == {"label": "billing"} and output.run.dataset_id == Trace.objects.get(
        id=trace_id).deployment.traffic_dataset_id
    # The user's correction is a suggestion, not gold: the record has no label.
    assert output.record.label == "" and output.record.metadata["suggested_answer"] == {"label": "technical"}


def test_feedback_refuses_a_correction_that_does_not_fit(key, llm_server):
    trace_id = post(PREDICT, {"text": "x"}, key.secret).json()["trace_id"]
    BUFFER.flush()
    response = post(f"/api/traces/{trace_id}/feedback", {"correct_answer": {"label": "nope"}}, key.secret)
    assert response.status_code == 400


def test_feedback_needs_the_key_of_the_traces_deployment(key, deployment, project, llm_server):
    trace_id = post(PREDICT, {"text": "x"}, key.secret).json()["trace_id"]
    BUFFER.flush()
    other = services.deployment_create(project=project, slug="other")
    _, other_secret = services.key_create(deployment=other, name="Other")
    assert post(f"/api/traces/{trace_id}/feedback", {"thumbs": "up"}, other_secret).status_code == 404
    assert post(f"/api/traces/{trace_id}/feedback", {"thumbs": "up"}).status_code == 401
    assert post("/api/traces/not-a-uuid/feedback", {"thumbs": "up"}, key.secret).status_code == 404


def test_invalid_answers_are_sampled_into_the_traffic_run(key, deployment, llm_server):
    llm_server.answer = lambda body: "not json"
    post(PREDICT, {"text": "x"}, key.secret)
    BUFFER.flush()
    trace = Trace.objects.get()
    assert trace.sampled_reason == "invalid answer"
    output = Output.objects.get(id=trace.review_output_id)
    assert output.status == "invalid" and output.run.selection == {"source": "traffic"}
    assert output.run.record_ids == [output.record_id] and output.run.total == 1


def test_random_share_samples_every_call_at_one(key, deployment, llm_server):
    deployment.sample_share = 1.0
    deployment.save()
    services.forget_keys()
    for text in ("a", "b", "c"):
        post(PREDICT, {"text": text}, key.secret)
    BUFFER.flush()
    assert list(Trace.objects.values_list("sampled_reason", flat=True)) == ["random share"] * 3
    assert Output.objects.filter(run__selection__source="traffic").count() == 3


def test_shadow_answers_are_stored_never_returned(key, deployment, project, prompt_version, llm_server):
    from apps.llm.models import Model

    shadow = Model.objects.create(project=project, name="Candidate", provider="openai",
                                  base_url=llm_server.base_url, model_id="candidate-1", timeout_seconds=2)
    llm_server.answer = lambda body: '{"label": "technical"}' if body["model"] == "candidate-1" \
        else '{"label": "billing"}'
    services.deployment_update(deployment=deployment, shadow_model=shadow, shadow_prompt_version=prompt_version,
                               shadow_share=1.0)
    response = post(PREDICT, {"text": "x"}, key.secret)
    assert response.json()["label"] == "billing"
    from apps.deployments.calling import _shadow_pool

    _shadow_pool.submit(lambda: None).result()  # the shadow call has finished and handed its trace over
    import time

    for _ in range(50):
        if BUFFER.pending():
            break
        time.sleep(0.05)
    BUFFER.flush()
    trace = Trace.objects.get()
    assert trace.shadow_answer == {"label": "technical"} and trace.shadow_agrees is False
    assert trace.sampled_reason == "shadow disagreement"


def test_a_model_host_the_policy_denies_is_refused_with_a_502(key, deployment, settings):
    settings.TASKLLM_MODEL_HOSTS_DENY = ["127.0.0.0/8"]
    deployment.model.base_url = "http://127.0.0.2:9/v1"  # a server never called before in this process
    deployment.model.save()
    services.forget_keys()
    response = post(PREDICT, {"text": "x"}, key.secret)
    assert response.status_code == 502 and "not allowed" in response.json()["error"]["message"]


# --- the members' API -------------------------------------------------------------------------

def test_members_api_promotes_rolls_back_and_lists_traces(deployment, key, people, project, prompt_version,
                                                         llm_server):
    from apps.llm.models import Model
    from tests.conftest import api_as

    from .conftest import finished_eval

    tuned = Model.objects.create(project=project, name="Tuned", provider="openai", base_url=llm_server.base_url,
                                 model_id="tuned", timeout_seconds=2)
    lead = api_as(people["lead"])
    refused = lead.post(f"/api/deployments/{deployment.id}/promote/",
                        {"model": tuned.id, "prompt_version": prompt_version.id, "reason": "try"}, format="json")
    assert refused.status_code == 400 and "passed its gate" in refused.json()["detail"]
    finished_eval(project, tuned, prompt_version, passed=True)
    promoted = lead.post(f"/api/deployments/{deployment.id}/promote/",
                         {"model": tuned.id, "prompt_version": prompt_version.id, "reason": "passed"}, format="json")
    assert promoted.status_code == 201
    detail = lead.get(f"/api/deployments/{deployment.id}/").json()
    assert detail["model"] == tuned.id and len(detail["promotions"]) == 2
    first = detail["promotions"][-1]["id"]
    assert lead.post(f"/api/deployments/{deployment.id}/rollback/", {"promotion": first}, format="json") \
        .status_code == 201
    services.forget_keys()
    post(PREDICT, {"text": "hello"}, key.secret)
    BUFFER.flush()
    traces = api_as(people["reviewer"]).get(f"/api/deployments/{deployment.id}/traces/").json()
    assert traces["count"] == 1 and traces["results"][0]["model"] == detail["promotions"][-1]["model"]
    traffic = api_as(people["reviewer"]).get(f"/api/deployments/{deployment.id}/traffic/").json()
    assert traffic["days"][0]["calls"] == 1


def test_a_deployed_remote_fine_tune_calls_its_server_with_its_parents_key(key, deployment, project, people,
                                                                           remote_model, prompt_version,
                                                                           llm_server):
    from apps.llm.models import Model

    from .conftest import finished_eval

    tuned = Model.objects.create(project=project, name="Tuned", provider="openai", base_url=remote_model.base_url,
                                 model_id="ft:fake-1:taskllm", parent=remote_model, timeout_seconds=2)
    assert tuned.api_key == ""  # it keeps no copy: the key is borrowed at call time
    finished_eval(project, tuned, prompt_version, passed=True)
    services.promotion_create(deployment=deployment, model=tuned, prompt_version=prompt_version,
                              reason="Fine-tuned", user=people["lead"])
    services.forget_keys()
    response = post(PREDICT, {"text": "My invoice is wrong"}, key.secret)
    assert response.status_code == 200, response.content
    assert llm_server.requests[-1]["model"] == "ft:fake-1:taskllm"
    assert llm_server.authorizations[-1] == "Bearer sk-test-secret-1234"
