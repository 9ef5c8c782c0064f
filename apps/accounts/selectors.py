"""Who may see and do what. One access helper per object: 404 for outsiders, 403 when the role is too low."""

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.http import Http404

from apps.core.params import sort_ordering

from .models import ROLE_RANK, Membership, Role

# accounts knows the project only through Membership.project, as apps know the user model through
# get_user_model(): projects imports accounts (for access checks and its admin), never the other way round.
Project = Membership._meta.get_field("project").related_model


def role_in_project(user, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    membership = Membership.objects.filter(project=project, user=user).only("role").first()
    return membership.role if membership else None


def project_for_user(user, project_id, *, role: str = Role.REVIEWER) -> Project:
    """The project, with `user_role` set, if `user` is a member with at least `role`.

    Outsiders get 404 (they may not learn that the project exists); members whose role
    is too low get 403.
    """
    project = Project.objects.filter(id=project_id).first()
    if project is None:
        raise Http404("No such project.")
    return check_project_role(user, project, role=role)


def check_project_role(user, project: Project, *, role: str = Role.REVIEWER) -> Project:
    user_role = role_in_project(user, project)
    if user_role is None:
        raise Http404("No such project.")
    if ROLE_RANK[user_role] < ROLE_RANK[role]:
        raise PermissionDenied(f"This needs the {Role(role).label.lower()} role in {project.name}.")
    project.user_role = user_role
    return project


def projects_for_user(user) -> QuerySet[Project]:
    projects = Project.objects.all()
    if not user.is_superuser:
        projects = projects.filter(memberships__user=user)
    return projects


def can_create_projects(user) -> bool:
    """Site admins and users granted the permission; leads of a project too when TASKLLM_LEADS_CREATE_PROJECTS."""
    if not user.is_authenticated:
        return False
    if user.has_perm("projects.add_project"):
        return True
    if not settings.TASKLLM_LEADS_CREATE_PROJECTS:
        return False
    return Membership.objects.filter(user=user, role__in=[Role.LEAD, Role.ADMIN]).exists()


# The columns the member list sorts by, and the fields each one orders.
MEMBER_SORTS = {"user": ["user__username"], "role": ["role", "user__username"]}


def members_of(project: Project, *, sort: str = "user") -> QuerySet[Membership]:
    """The members, each with `invite_pending`: invited but no password set yet (the one-time link unused)."""
    pending = ExpressionWrapper(Q(user__password__startswith=UNUSABLE_PASSWORD_PREFIX), output_field=BooleanField())
    return (Membership.objects.filter(project=project).select_related("user").annotate(invite_pending=pending)
            .order_by(*sort_ordering(sort, MEMBER_SORTS)))


def has_role(project: Project, role: str) -> bool:
    """For a project returned by the access helpers: does the user hold at least `role`?"""
    return ROLE_RANK[getattr(project, "user_role", Role.REVIEWER)] >= ROLE_RANK[role]


def audit_events_for(user, *, project_id: int | None = None, actor_id: int | None = None) -> QuerySet:
    """Audit events a person may read: all for site admins, else those of the projects they administer."""
    from .models import AuditEvent

    events = AuditEvent.objects.select_related("actor", "project")
    if not user.is_superuser:
        administered = Membership.objects.filter(user=user, role=Role.ADMIN).values("project_id")
        events = events.filter(project_id__in=administered)
    if project_id is not None:
        events = events.filter(project_id=project_id)
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    return events
