from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.accounts.models import Membership, Role
from tests.conftest import api_as, login


def test_admin_invites_a_new_person_who_sets_a_password(people, project, client):
    response = login(people["admin"]).post(reverse("accounts:member_add", args=[project.id]),
                                           {"username": "dana", "email": "dana@example.org", "role": "lead"})
    invite_url = response.context["invite_url"]
    assert "/accounts/invite/" in invite_url
    assert Membership.objects.get(project=project, user__username="dana").role == Role.LEAD
    form_page = client.get(invite_url, follow=True)
    assert "Choose a password for" in form_page.content.decode()
    passwords = {"new_password1": "a-long-pass-1", "new_password2": "a-long-pass-1"}
    done = client.post(form_page.redirect_chain[-1][0], passwords)
    assert done.status_code == 302
    assert client.login(username="dana", password="a-long-pass-1")


def test_adding_an_existing_user_needs_no_invite(people, project):
    get_user_model().objects.create_user("erin", password="x")
    response = login(people["admin"]).post(reverse("accounts:member_add", args=[project.id]),
                                           {"username": "erin", "role": "reviewer"})
    assert response.status_code == 302
    assert Membership.objects.filter(project=project, user__username="erin").exists()


def test_adding_someone_twice_is_refused_with_a_reason(people, project):
    response = login(people["admin"]).post(reverse("accounts:member_add", args=[project.id]),
                                           {"username": "reviewer", "role": "lead"})
    assert "already a member" in response.content.decode()


def test_the_last_admin_cannot_step_down(people, project):
    membership = Membership.objects.get(project=project, user=people["admin"])
    response = api_as(people["admin"]).patch(reverse("api-member", args=[project.id, membership.id]),
                                             {"role": "reviewer"}, format="json")
    assert response.status_code == 400 and "at least one admin" in response.json()["detail"]
    assert api_as(people["admin"]).delete(reverse("api-member", args=[project.id, membership.id])).status_code == 400


def test_admin_changes_a_role(people, project):
    membership = Membership.objects.get(project=project, user=people["reviewer"])
    login(people["admin"]).post(reverse("accounts:member_role", args=[project.id, membership.id]), {"role": "lead"})
    membership.refresh_from_db()
    assert membership.role == Role.LEAD


def test_api_invite_returns_the_link_and_never_a_password(people, project):
    response = api_as(people["admin"]).post(reverse("api-members", args=[project.id]),
                                            {"username": "fred", "role": "reviewer"}, format="json")
    assert response.status_code == 201 and "/accounts/invite/" in response.json()["invite_url"]


def test_members_page_shows_role_controls_to_admins_only(people, project):
    admin_page = login(people["admin"]).get(reverse("accounts:members", args=[project.id])).content.decode()
    reviewer_page = login(people["reviewer"]).get(reverse("accounts:members", args=[project.id])).content.decode()
    assert "Add member" in admin_page and "Add member" not in reviewer_page


def test_token_page_shows_and_regenerates_the_token(people):
    client = login(people["reviewer"])
    first = client.get(reverse("accounts:token")).context["token"].key
    second = client.post(reverse("accounts:token")).context["token"].key
    assert first != second


def test_login_page_logs_in(people, client):
    response = client.post(reverse("login"), {"username": "reviewer", "password": "secret-pass"})
    assert response.status_code == 302 and response.url == reverse("projects:list")


def test_pending_invites_are_listed_with_a_new_link_to_copy(people, project, client):
    admin = login(people["admin"])
    added = admin.post(reverse("accounts:member_add", args=[project.id]), {"username": "dana", "role": "reviewer"})
    assert 'data-copy="invite-url"' in added.content.decode()
    dana = Membership.objects.get(project=project, user__username="dana")
    page = admin.get(reverse("accounts:members", args=[project.id])).content.decode()
    pending = page.split('id="pending-invites"')[1]
    assert "dana <span" in pending and "lead <span" not in pending and "invite pending" in page
    renewed = admin.post(reverse("accounts:member_invite", args=[project.id, dana.id]))
    invite_url = renewed.context["invite_url"]
    assert renewed["Cache-Control"].startswith("max-age=0") and 'data-copy="invite-url"' in renewed.content.decode()
    form_page = client.get(invite_url, follow=True)
    client.post(form_page.redirect_chain[-1][0], {"new_password1": "a-long-pass-1", "new_password2": "a-long-pass-1"})
    page = admin.get(reverse("accounts:members", args=[project.id])).content.decode()
    assert "invite pending" not in page and "None: everyone invited has set a password." in page
    refused = admin.post(reverse("accounts:member_invite", args=[project.id, dana.id]), follow=True)
    assert "dana has already set a password" in refused.content.decode()
