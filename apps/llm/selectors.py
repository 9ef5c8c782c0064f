from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role, project_for_user
from apps.core.params import sort_ordering
from apps.datasets.models import Record
from apps.projects.kinds import answer_schema, kind_for

from .models import Model, Provider

# The columns the model list sorts by, and the fields each one orders.
MODEL_SORTS = {"name": ["name"], "provider": ["provider"], "model_id": ["model_id"], "parent": ["parent__name"],
               "scope": ["project_id"]}


def models_for_project(project, *, sort: str = "name") -> QuerySet[Model]:
    """The models a project can use: shared ones and its own, in `sort` order (see MODEL_SORTS)."""
    return Model.objects.filter(Q(project__isnull=True) | Q(project=project)).select_related("parent").order_by(
        *sort_ordering(sort, MODEL_SORTS))


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


def probe_request(project) -> tuple[list[dict], dict]:
    """The messages and schema Test connection sends: the project's answer format and one of its records."""
    text = Record.objects.filter(dataset__project=project).order_by("id").values_list("text", flat=True).first()
    system = kind_for(project).answer_instruction(project)
    return ([{"role": "system", "content": system}, {"role": "user", "content": text or "Hello!"}],
            answer_schema(project))


def project_for_site_admin(user, project_id):
    """The project a site-wide page is reached from: 404 for outsiders, 403 for members who are not site admins."""
    project = project_for_user(user, project_id)
    if not user.is_superuser:
        raise PermissionDenied("Only site admins manage the models folder.")
    return project


def models_folder_listing() -> list[dict]:
    """What the models folder holds (llm.local_models.describe of each entry), with the model registered from it."""
    from .local_models import local_models

    registered = {m.local_path: m for m in Model.objects.filter(provider=Provider.LOCAL, parent=None)
                  .exclude(local_path="")}
    return [{**info.as_dict(), "registered": registered.get(info.path)} for info in local_models()]
