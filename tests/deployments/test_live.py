"""Against a live server: an application using the real `openai` SDK (only base_url and key changed), and the
trace buffer's background writer surviving a database outage."""

import json
import time

import openai
import pytest
from django.db import connections
from django.test import Client

from apps.deployments import services
from apps.deployments.models import Trace
from apps.deployments.trace_buffer import BUFFER
from tests.support.tcp_proxy import TcpProxy

from .conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def writer_thread(settings):
    settings.TASKLLM_TRACE_FLUSH_SECONDS = 0.05
    yield
    wait_for(lambda: BUFFER.pending() == 0)  # the writer is done before the test's database goes away


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_openai_sdk_calls_the_gateway_with_only_base_url_changed(live_server, key, llm_server, writer_thread):
    llm_server.answer = lambda body: '{"label": "technical"}'
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key.secret, max_retries=0)
    reply = client.chat.completions.create(model="ticket-router",
                                           messages=[{"role": "user", "content": "The app crashes"}])
    assert reply.choices[0].message.content == '{"label": "technical"}'
    assert reply.model == "ticket-router"
    stream = client.chat.completions.create(model="ticket-router", stream=True,
                                            messages=[{"role": "user", "content": "Again"}])
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == '{"label": "technical"}'
    assert wait_for(lambda: Trace.objects.count() == 2)

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    services.key_revoke(key=key)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="ticket-router", messages=[{"role": "user", "content": "x"}])


def test_unreachable_model_reaches_the_sdk_as_a_502_with_the_reason(live_server, key, deployment):
    deployment.model.base_url = "http://127.0.0.1:9/v1"
    deployment.model.save()
    services.forget_keys()
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key.secret, max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="ticket-router", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert "Could not reach the model" in caught.value.body["message"]


def test_answers_flow_while_the_database_is_down_and_traces_are_written_after(key, llm_server, writer_thread):
    """The database is made unreachable for real (a TCP proxy in front of PostgreSQL cuts every connection and
    refuses new ones); every call still answers, and every trace is written once the proxy is back."""
    database = connections["default"].settings_dict
    proxy = TcpProxy(database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432))
    original = (database["HOST"], database["PORT"])
    connections.close_all()
    database["HOST"], database["PORT"] = "127.0.0.1", proxy.port
    try:
        client = Client()
        written_at_start = BUFFER.written
        body = json.dumps({"text": "warm"})
        assert client.post("/api/deployments/ticket-router/predict", body, content_type="application/json",
                           **bearer(key.secret)).status_code == 200
        assert wait_for(lambda: BUFFER.pending() == 0 and BUFFER.written == written_at_start + 1)
        written_before = BUFFER.written
        proxy.stop()
        statuses = [client.post("/api/deployments/ticket-router/predict", json.dumps({"text": f"ticket {i}"}),
                                content_type="application/json", **bearer(key.secret)).status_code
                    for i in range(20)]
        assert statuses == [200] * 20
        time.sleep(0.5)
        assert BUFFER.outage_since is not None and BUFFER.pending() == 20
        proxy.start()
        assert wait_for(lambda: BUFFER.written - written_before == 20, seconds=15)
        assert BUFFER.pending() == 0 and not BUFFER.lost
    finally:
        database["HOST"], database["PORT"] = original
        connections.close_all()
        proxy.close()
    assert Trace.objects.count() == 21
