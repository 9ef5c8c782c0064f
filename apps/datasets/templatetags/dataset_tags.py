"""The project home's datasets section, rendered here so that `projects` (floor 0) never imports `datasets`."""

from django import template

from ..selectors import datasets_of

register = template.Library()


@register.inclusion_tag("datasets/_project_datasets.html")
def project_datasets(project):
    """The project's datasets with their counts; `project` comes from an access helper (it carries `user_role`)."""
    return {"project": project, "datasets": datasets_of(project)}
