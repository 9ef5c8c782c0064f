"""The project home's "waiting for you" list, rendered here so that `projects` (floor 0) never imports `review`."""

from django import template

from ..selectors import runs_waiting_for

register = template.Library()


@register.inclusion_tag("review/_waiting_for_me.html")
def waiting_for_me(project, user):
    """Runs of the project with outputs waiting for `user`'s grade, with counts and a Start reviewing button."""
    return {"project": project, "runs": runs_waiting_for(project, user)}
