import json

from django.urls import reverse

from apps.llm.models import Model
from tests.conftest import api_as, htmx_as, login


def test_lead_adds_a_model_and_its_key_is_never_shown(people, project):
    response = login(people["lead"]).post(reverse("llm:create", args=[project.id]), {
        "name": "GPT", "provider": "openai", "base_url": "https://api.example.org/v1", "model_id": "gpt-x",
        "api_key": "sk-very-secret-9876", "temperature": "0", "max_tokens": "64", "timeout_seconds": "10",
        "max_retries": "2"})
    assert response.status_code == 302
    model = Model.objects.get(name="GPT")
    assert model.api_key == "sk-very-secret-9876" and model.project == project
    page = login(people["reviewer"]).get(reverse("llm:list", args=[project.id])).content.decode()
    edit = login(people["lead"]).get(reverse("llm:edit", args=[project.id, model.id])).content.decode()
    api = api_as(people["lead"]).get(reverse("api-model", args=[project.id, model.id])).content.decode()
    for text in (page, edit, api):
        assert "sk-very-secret" not in text
    assert "…9876" in page and '"api_key_hint":"…9876"' in api


def test_saving_without_a_key_keeps_the_stored_key(people, project, remote_model):
    login(people["lead"]).post(reverse("llm:edit", args=[project.id, remote_model.id]), {
        "name": "Renamed", "provider": "openai", "base_url": remote_model.base_url, "model_id": "fake-1",
        "api_key": "", "temperature": "0", "max_tokens": "64", "timeout_seconds": "10", "max_retries": "2"})
    remote_model.refresh_from_db()
    assert remote_model.name == "Renamed" and remote_model.api_key == "sk-test-secret-1234"


def test_an_openai_model_needs_a_url_and_an_id(people, project):
    response = login(people["lead"]).post(reverse("llm:create", args=[project.id]), {
        "name": "Broken", "provider": "openai", "temperature": "0", "max_tokens": "64", "timeout_seconds": "10",
        "max_retries": "2"})
    assert "needs a base URL and a model id" in response.content.decode()


def test_test_connection_probes_the_server_and_offers_the_method_that_works(people, project, remote_model,
                                                                          llm_server):
    # Changed on purpose (issue 13): Test connection is a probe of the structured-output methods.
    llm_server.fail_json_schema = True
    llm_server.answer = lambda body: json.dumps({"label": project.labels[0]})
    html = htmx_as(people["lead"]).post(reverse("llm:test", args=[project.id, remote_model.id])).content.decode()
    assert "reachable" in html and "json_schema not supported" in html and "llamacpp_schema works" in html
    assert "Use llamacpp_schema for Fake GPT" in html and "s per answer" in html
    response = htmx_as(people["lead"]).post(reverse("llm:use_method", args=[project.id, remote_model.id]),
                                            {"method": "llamacpp_schema"})
    remote_model.refresh_from_db()
    assert remote_model.structured_output == "llamacpp_schema" and "now uses" in response.content.decode()


def test_test_connection_shows_the_error(people, project, remote_model):
    remote_model.base_url, remote_model.max_retries = "http://127.0.0.1:9/v1", 0
    remote_model.save()
    html = htmx_as(people["lead"]).post(reverse("llm:test", args=[project.id, remote_model.id])).content.decode()
    assert "Failed:" in html and "could not connect" in html


def test_shared_models_are_changed_by_site_admins_only(people, project):
    shared = Model.objects.create(name="Shared", provider="local")
    assert login(people["admin"]).get(reverse("llm:edit", args=[project.id, shared.id])).status_code == 403
    assert "Shared" in login(people["reviewer"]).get(reverse("llm:list", args=[project.id])).content.decode()


def test_another_projects_model_is_invisible(people, project):
    from tests.factories import ProjectFactory

    theirs = Model.objects.create(name="Theirs", provider="local", project=ProjectFactory())
    assert login(people["admin"]).get(reverse("llm:edit", args=[project.id, theirs.id])).status_code == 404


def test_test_connection_of_the_bundled_model_checks_its_weights_without_loading_it(people, project):
    from apps.llm.providers import local

    model = Model.objects.create(project=project, name="Local", provider="local")
    local.load.cache_clear()
    html = htmx_as(people["lead"]).post(reverse("llm:test", args=[project.id, model.id])).content.decode()
    assert "The bundled weights are installed (SmolLM2-135M-Instruct.Q4_1.gguf, 98 MB)" in html
    assert local.load.cache_info().currsize == 0


def test_a_model_used_by_a_run_stays_and_the_lead_is_told_why(people, project, graded_run):
    model = graded_run.model
    response = api_as(people["lead"]).delete(reverse("api-model", args=[project.id, model.id]))
    assert response.status_code == 400 and "stays for their record" in response.json()["detail"]
    page = login(people["lead"]).post(reverse("llm:delete", args=[project.id, model.id]), follow=True)
    assert "stays for their record" in page.content.decode() and Model.objects.filter(id=model.id).exists()


def test_a_model_nothing_used_is_deleted(people, project, remote_model):
    response = login(people["lead"]).post(reverse("llm:delete", args=[project.id, remote_model.id]))
    assert response.status_code == 302 and not Model.objects.filter(id=remote_model.id).exists()


def test_a_lead_tests_a_shared_model_without_a_403(people, project, llm_server):
    from apps.llm.models import Model

    shared = Model.objects.create(name="Shared GPT", provider="openai", base_url=llm_server.base_url,
                                  model_id="fake-1", timeout_seconds=2, max_retries=0)
    response = htmx_as(people["lead"]).post(reverse("llm:test", args=[project.id, shared.id]))
    assert response.status_code == 200 and "403" not in response.content.decode()
    assert htmx_as(people["reviewer"]).post(reverse("llm:test", args=[project.id, shared.id])).status_code == 403


def test_the_add_model_form_lists_the_ids_of_the_server_at_the_base_url_typed_in(people, project, llm_server):
    page = login(people["lead"]).get(reverse("llm:create", args=[project.id])).content.decode()
    assert "List models" in page and reverse("llm:server_ids_at", args=[project.id]) in page
    llm_server.pinned_model = "/models/SmolLM2"
    html = htmx_as(people["lead"]).post(reverse("llm:server_ids_at", args=[project.id]),
                                        {"base_url": llm_server.base_url, "api_key": "sk-typed"}).content.decode()
    assert '<option value="/models/SmolLM2">' in html and "The server lists: <code>/models/SmolLM2</code>" in html
    assert not Model.objects.exists()


def test_listing_models_says_why_it_could_not(people, project):
    url = reverse("llm:server_ids_at", args=[project.id])
    html = htmx_as(people["lead"]).post(url, {"base_url": ""}).content.decode()
    assert "Type the server&#x27;s base URL first." in html
    html = htmx_as(people["lead"]).post(url, {"base_url": "http://127.0.0.1:9/v1"}).content.decode()
    assert "Could not list the server&#x27;s models: could not connect to http://127.0.0.1:9/v1" in html
