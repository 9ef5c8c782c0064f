"""The audit log: who changed a model's server or key, a role, a prompt, project settings, deleted or launched."""

from django.urls import reverse

from apps.accounts.models import AuditEvent, Membership
from tests.conftest import api_as, login


def actions_by(user) -> list[str]:
    return list(AuditEvent.objects.filter(actor=user).values_list("action", flat=True))


def test_model_server_and_key_changes_are_logged_with_who(project, people, remote_model):
    api_as(people["lead"]).patch(reverse("api-model", args=[project.id, remote_model.id]),
                                 {"base_url": "http://127.0.0.1:9/v1"}, format="json")
    event = AuditEvent.objects.get(action="model.connection_changed")
    assert event.actor == people["lead"] and event.project == project
    assert event.details["key"] == "dropped" and event.details["to"]["base_url"] == "http://127.0.0.1:9/v1"
    assert "sk-test-secret" not in str(event.details)


def test_roles_prompts_settings_and_deletions_are_logged(project, people, prompt_version, dataset):
    admin = api_as(people["admin"])
    reviewer = Membership.objects.get(project=project, user=people["reviewer"])
    admin.patch(reverse("api-member", args=[project.id, reviewer.id]), {"role": "lead"}, format="json")
    admin.patch(reverse("api-project", args=[project.id]), {"pass_threshold": 0.8}, format="json")
    admin.post(reverse("api-prompt-versions", args=[prompt_version.template_id]),
               {"style": "plain", "user_template": "Text: {text}"}, format="json")
    admin.delete(reverse("api-dataset", args=[dataset.id]))
    assert {"member.role_changed", "project.settings_changed", "prompt.version_saved", "dataset.deleted"} \
        <= set(actions_by(people["admin"]))
    role = AuditEvent.objects.get(action="member.role_changed")
    assert role.details == {"from": "reviewer", "to": "lead"} and role.target == "reviewer"


def test_the_log_is_read_by_admins_filtered_by_project_and_person(project, people, remote_model):
    api_as(people["lead"]).patch(reverse("api-model", args=[project.id, remote_model.id]),
                                 {"base_url": "http://127.0.0.1:9/v1"}, format="json")
    response = api_as(people["admin"]).get(reverse("api-audit"), {"project": project.id,
                                                                 "actor": people["lead"].id})
    assert [e["action"] for e in response.json()["results"]] == ["model.connection_changed"]
    assert response.json()["results"][0]["actor"] == "lead"
    assert api_as(people["admin"]).get(reverse("api-audit"), {"actor": people["reviewer"].id}).json()["count"] == 0
    # A lead, or an admin of another project, reads none of this project's events.
    assert api_as(people["lead"]).get(reverse("api-audit")).json()["count"] == 0
    assert api_as(people["outsider"]).get(reverse("api-audit"), {"project": project.id}).json()["count"] == 0


def test_site_admins_read_the_log_in_the_admin(people, project, remote_model):
    from tests.factories import UserFactory

    api_as(people["lead"]).patch(reverse("api-model", args=[project.id, remote_model.id]),
                                 {"base_url": "http://127.0.0.1:9/v1"}, format="json")
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    page = login(root).get(reverse("admin:accounts_auditevent_changelist"), {"project__id__exact": project.id})
    assert page.status_code == 200 and "model.connection_changed" in page.content.decode()
