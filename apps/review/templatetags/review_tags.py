"""Review reads shown on lower apps' pages (the project home's "waiting for you" list, a run's grade statuses),
rendered here so that `projects` and `runs` never import `review`."""

from django import template

from ..selectors import GradeStatus, grade_status_of, runs_waiting_for

register = template.Library()


@register.inclusion_tag("review/_waiting_for_me.html")
def waiting_for_me(project, user):
    """Runs of the project with outputs waiting for `user`'s grade, with counts and a Start reviewing button."""
    return {"project": project, "runs": runs_waiting_for(project, user)}


@register.simple_tag
def grade_statuses(outputs) -> dict:
    """`{% grade_statuses page.object_list as statuses %}`: the grades of a page of run outputs, in one query."""
    return grade_status_of(outputs)


@register.inclusion_tag("review/_grade_status.html")
def grade_status(statuses: dict, output):
    """A run output's grade status cell: pass, fail, split, adjudicated or not yet, and how many grades."""
    return {"status": statuses.get(output.id, GradeStatus())}
