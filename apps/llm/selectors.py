from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role

from .models import Model


def models_for_project(project) -> QuerySet[Model]:
    """The models a project can use: shared ones and its own."""
    return Model.objects.filter(Q(project__isnull=True) | Q(project=project)).select_related("parent")


def model_for_user(user, model_id, *, project=None, role: str = Role.REVIEWER) -> Model:
    """A model the user may see (or, with role lead/admin, change).

    A project's model follows that project's roles. A shared model is visible to every
    member of a project that can use it, and changed only by site admins.
    """
    model = Model.objects.select_related("project", "parent").filter(id=model_id).first()
    if model is None:
        raise Http404("No such model.")
    if model.project is not None:
        check_project_role(user, model.project, role=role)
        return model
    if project is None:
        raise Http404("No such model.")
    check_project_role(user, project, role=Role.REVIEWER)
    if role != Role.REVIEWER and not user.is_superuser:
        raise PermissionDenied("Only site admins change shared models.")
    return model
