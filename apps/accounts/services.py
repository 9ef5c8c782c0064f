from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

from apps.core.exceptions import ApplicationError

from .audit import audit_record
from .models import Membership, Role

User = get_user_model()


@transaction.atomic
def membership_add(*, project, username: str, email: str = "", role: str) -> tuple[Membership, str | None]:
    """Add a person to a project, creating the account if it does not exist yet.

    Returns the membership and, for a new account, the path of a one-time link where
    the invited person sets a password (None for an existing account).
    """
    username = username.strip()
    if not username:
        raise ApplicationError("Give the person's username.")
    user = User.objects.filter(username=username).first()
    invite_path = None
    if user is None:
        user = User.objects.create_user(username=username, email=email.strip())
        user.set_unusable_password()
        user.save(update_fields=["password"])
        invite_path = invite_path_for(user)
    if Membership.objects.filter(project=project, user=user).exists():
        raise ApplicationError(f"{username} is already a member of {project.name}.")
    membership = Membership.objects.create(project=project, user=user, role=role)
    return membership, invite_path


def invite_renew(*, membership: Membership) -> str:
    """A fresh one-time link for a member who has not set a password yet (an earlier link keeps working)."""
    if membership.user.has_usable_password():
        raise ApplicationError(f"{membership.user.username} has already set a password: no invite is pending.")
    return invite_path_for(membership.user)


def invite_path_for(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("accounts:invite", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str) -> Membership:
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _ensure_another_admin(membership)
    old_role = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record("member.role_changed", project=membership.project, target=membership.user.username,
                 details={"from": old_role, "to": role})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    if membership.role == Role.ADMIN:
        _ensure_another_admin(membership)
    audit_record("member.removed", project=membership.project, target=membership.user.username)
    membership.delete()


def _ensure_another_admin(membership: Membership) -> None:
    admins = Membership.objects.select_for_update().filter(project=membership.project_id, role=Role.ADMIN)
    if not admins.exclude(id=membership.id).exists():
        raise ApplicationError("A project needs at least one admin: make someone else admin first.")


def api_token_get_or_create(*, user) -> Token:
    token, _ = Token.objects.get_or_create(user=user)
    return token


def api_token_regenerate(*, user) -> Token:
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)
