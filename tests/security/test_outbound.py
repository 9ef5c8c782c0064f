"""Where model requests may go (apps/llm/outbound.py): denied networks, resolved addresses, no redirects, bounds."""

import pytest
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.llm.models import Model
from apps.llm.outbound import OutboundRefused, check_base_url
from apps.llm.services import model_create, model_test_connection
from tests.conftest import api_as, login
from tests.support.fake_llm import Fault


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/v1",
    "http://[::ffff:169.254.169.254]/v1",
    "http://metadata.google.internal/v1",
    "http://0.0.0.0:8000/v1",
])
def test_link_local_metadata_and_unspecified_addresses_are_refused_by_default(url):
    with pytest.raises(OutboundRefused):
        check_base_url(url)


def test_loopback_is_allowed_by_default_and_can_be_denied(settings):
    check_base_url("http://127.0.0.1:11434/v1")
    settings.TASKLLM_MODEL_HOSTS_DENY = [*settings.TASKLLM_MODEL_HOSTS_DENY, "127.0.0.0/8", "::1/128"]
    with pytest.raises(OutboundRefused, match="not allowed"):
        check_base_url("http://127.0.0.1:11434/v1")
    # A name is refused by what it resolves to, every address of it.
    with pytest.raises(OutboundRefused, match="localhost"):
        check_base_url("http://localhost:11434/v1")


def test_an_allow_list_admits_only_its_networks_and_names(settings):
    settings.TASKLLM_MODEL_HOSTS_ALLOW = ["10.0.0.0/8", "localhost"]
    check_base_url("http://10.1.2.3/v1")
    check_base_url("http://localhost:8000/v1")
    with pytest.raises(OutboundRefused, match="ALLOW"):
        check_base_url("http://127.0.0.1:8000/v1")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/v1?x=", "http://127.0.0.1:8000/v1#frag",
                                 "http://user:pw@127.0.0.1:8000/v1", "ftp://127.0.0.1/v1"])
def test_base_urls_with_a_query_fragment_or_credentials_are_refused_everywhere(project, people, url):
    with pytest.raises(ApplicationError):
        model_create(project=project, name="m", provider="openai", base_url=url, model_id="m")
    api = api_as(people["lead"]).post(reverse("api-models", args=[project.id]),
                                      {"name": "m", "provider": "openai", "base_url": url, "model_id": "m"},
                                      format="json")
    assert api.status_code == 400 and "base_url" in api.json()
    page = login(people["lead"]).post(reverse("llm:create", args=[project.id]), {
        "name": "m", "provider": "openai", "base_url": url, "model_id": "m", "temperature": 0, "max_tokens": 16,
        "timeout_seconds": 5, "max_retries": 0})
    assert page.status_code == 200 and page.context["form"].errors["base_url"]
    assert not Model.objects.filter(name="m").exists()


def test_the_connection_test_never_reaches_a_denied_address(project, people):
    model = Model.objects.create(project=project, name="meta", provider="openai",
                                 base_url="http://169.254.169.254/v1", model_id="m")
    response = api_as(people["lead"]).post(reverse("api-model-test", args=[project.id, model.id]))
    assert response.status_code == 200
    assert response.json()["ok"] is False and "not allowed" in response.json()["error"]


def test_model_calls_do_not_follow_redirects(project, capture_server, second_capture_server):
    capture_server.redirect_to = second_capture_server.base_url.removesuffix("/v1")
    model = Model.objects.create(project=project, name="r", provider="openai", base_url=capture_server.base_url,
                                 model_id="m", api_key="sk-redirected-5555", max_retries=0, timeout_seconds=2)
    result = model_test_connection(model=model)
    assert result.error and len(capture_server.requests) == 1
    assert second_capture_server.requests == []


def test_the_connection_test_tries_twice_at_most_whatever_the_models_retries(project, llm_server):
    model = Model.objects.create(project=project, name="slowpoke", provider="openai", base_url=llm_server.base_url,
                                 model_id="m", max_retries=10, timeout_seconds=600)
    llm_server.faults.extend(Fault.status_code(503, retry_after="0") for _ in range(10))
    result = model_test_connection(model=model)
    assert result.error and len(llm_server.requests) == 2


@pytest.mark.parametrize("field, value", [("timeout_seconds", 1e9), ("max_retries", 30000), ("temperature", -50),
                                          ("max_tokens", 2_000_000_000), ("timeout_seconds", 0),
                                          ("max_concurrency", 0), ("max_concurrency", 65),
                                          ("max_concurrency", 32767)])
def test_the_api_bounds_model_settings_like_the_form(project, people, remote_model, field, value):
    response = api_as(people["lead"]).patch(reverse("api-model", args=[project.id, remote_model.id]),
                                            {field: value}, format="json")
    assert response.status_code == 400 and field in response.json()
    with pytest.raises(ApplicationError):
        model_create(project=project, name="m", provider="openai", base_url="http://127.0.0.1/v1", model_id="m",
                     **{field: value})
