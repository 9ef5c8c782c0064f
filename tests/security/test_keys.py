"""API keys stay with the server they were entered for, are encrypted at rest; pages with secrets are not cached."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.urls import reverse

from apps.llm.models import Model
from apps.llm.services import model_update
from apps.prompts.rendering import render_messages
from apps.review.services import training_example_create
from apps.tuning.services import finetune_launch, finetune_remote_step
from tests.conftest import api_as, login

ADMIN_KEY = "sk-site-admin-secret-9999"


def stored_key(model) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM llm_model WHERE id = %s", [model.id])
        return cursor.fetchone()[0]


@pytest.fixture
def shared_model(llm_server):
    return Model.objects.create(project=None, name="Shared GPT", provider="openai", base_url=llm_server.base_url,
                                model_id="gpt-4o-mini", api_key=ADMIN_KEY, max_retries=0, timeout_seconds=2)


def test_a_remote_fine_tune_keeps_no_copy_of_its_base_key(project, prompt_version, shared_model, people,
                                                          django_capture_on_commit_callbacks):
    for n in range(12):
        text = f"Ticket {n}: my invoice is wrong"
        training_example_create(project=project, messages=render_messages(project, prompt_version, text),
                                text=text, answer={"label": "billing"})
    with django_capture_on_commit_callbacks(execute=False):
        job = finetune_launch(project=project, base_model=shared_model, backend="openai", user=people["lead"])
    again = True
    while again:
        job, again = finetune_remote_step(job_id=job.id)
    job.refresh_from_db()
    tuned = job.result_model
    assert tuned.parent == shared_model
    assert tuned.api_key == "" and stored_key(tuned) == ""
    assert tuned.call_api_key() == ADMIN_KEY  # borrowed at call time, from its parent, on the parent's server


def test_a_lead_who_moves_a_fine_tune_to_their_server_gets_no_key(project, people, shared_model, capture_server):
    tuned = Model.objects.create(project=project, name="tuned", provider="openai", base_url=shared_model.base_url,
                                 model_id="ft:1", parent=shared_model, max_retries=0, timeout_seconds=2)
    client = api_as(people["lead"])
    moved = client.patch(reverse("api-model", args=[project.id, tuned.id]), {"base_url": capture_server.base_url},
                         format="json")
    assert moved.status_code == 200
    client.post(reverse("api-model-test", args=[project.id, tuned.id]))
    assert capture_server.requests, "the test request reached the new server"
    assert all(ADMIN_KEY not in value for value in capture_server.authorizations())


def test_changing_a_models_base_url_drops_a_key_someone_else_set(project, people, remote_model, capture_server):
    client = api_as(people["lead"])
    response = client.patch(reverse("api-model", args=[project.id, remote_model.id]),
                            {"base_url": capture_server.base_url}, format="json")
    assert response.status_code == 200 and response.json()["api_key_hint"] == ""
    client.post(reverse("api-model-test", args=[project.id, remote_model.id]))
    assert all("sk-test-secret-1234" not in value for value in capture_server.authorizations())


def test_changing_the_provider_drops_the_key(remote_model):
    model_update(model=remote_model, provider="local")
    remote_model.refresh_from_db()
    assert remote_model.api_key == ""


def test_a_new_key_in_the_same_update_is_kept(remote_model, capture_server):
    model_update(model=remote_model, base_url=capture_server.base_url, api_key="sk-mine-0000")
    remote_model.refresh_from_db()
    assert remote_model.api_key == "sk-mine-0000"


def test_an_edit_that_keeps_the_url_keeps_the_key(remote_model):
    model_update(model=remote_model, base_url=remote_model.base_url, name="Renamed")
    remote_model.refresh_from_db()
    assert remote_model.api_key == "sk-test-secret-1234"


def test_the_edit_form_also_drops_the_key_on_a_new_url(project, people, remote_model, capture_server):
    data = {"name": "x", "provider": "openai", "base_url": capture_server.base_url, "model_id": "m", "api_key": "",
            "temperature": 0, "max_tokens": 16, "timeout_seconds": 5, "max_retries": 0}
    response = login(people["lead"]).post(reverse("llm:edit", args=[project.id, remote_model.id]), data)
    assert response.status_code == 302
    remote_model.refresh_from_db()
    assert remote_model.api_key == ""


def test_api_keys_are_encrypted_at_rest(remote_model):
    raw = stored_key(remote_model)
    assert raw.startswith("fernet:") and "sk-test-secret-1234" not in raw
    assert Model.objects.get(id=remote_model.id).api_key == "sk-test-secret-1234"


def test_the_migration_encrypts_keys_stored_in_plain_text(remote_model):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE llm_model SET api_key = %s WHERE id = %s", ["sk-plain-7777", remote_model.id])
    assert Model.objects.get(id=remote_model.id).api_key == "sk-plain-7777"  # legacy rows still read
    migration = importlib.import_module("apps.llm.migrations.0002_encrypt_api_keys_and_bounds")
    migration.encrypt_existing_keys(django_apps, None)
    assert stored_key(remote_model).startswith("fernet:")
    assert Model.objects.get(id=remote_model.id).api_key == "sk-plain-7777"


def test_the_encryption_key_comes_from_the_environment_setting(settings, remote_model):
    from cryptography.fernet import Fernet

    settings.TASKLLM_ENCRYPTION_KEY = Fernet.generate_key().decode()
    remote_model.save()
    raw = stored_key(remote_model)
    assert Fernet(settings.TASKLLM_ENCRYPTION_KEY.encode()).decrypt(raw.removeprefix("fernet:").encode()) \
        == b"sk-test-secret-1234"


def test_the_token_page_is_never_cached_and_rotates_the_token(people):
    client = login(people["lead"])
    first = client.get(reverse("accounts:token"))
    assert "no-store" in first["Cache-Control"]
    old = first.context["token"].key
    rotated = client.post(reverse("accounts:token"))
    assert "no-store" in rotated["Cache-Control"] and rotated.context["token"].key != old


def test_a_key_that_itself_begins_with_the_prefix_is_encrypted_and_reads_back(remote_model):
    remote_model.api_key = "fernet:not-a-token-but-a-key"
    remote_model.save()
    assert stored_key(remote_model) != "fernet:not-a-token-but-a-key"  # stored encrypted, like any other key
    assert Model.objects.get(id=remote_model.id).api_key == "fernet:not-a-token-but-a-key"
