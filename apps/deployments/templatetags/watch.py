"""`{% watch_deployment deployment %}` and `{% watch_project project %}`: scheduled-eval flags and open alerts."""

from django import template

from .. import watch_selectors

register = template.Library()


@register.inclusion_tag("deployments/_watch_deployment.html")
def watch_deployment(deployment):
    return {"deployment": deployment, "scheduled": watch_selectors.scheduled_evals_of(deployment, limit=5),
            "schedules": list(watch_selectors.schedules_of(deployment)),
            "open_alerts": watch_selectors.open_alert_count(deployment.project)}


@register.inclusion_tag("deployments/_watch_project.html")
def watch_project(project):
    return {"project": project, "regressions": watch_selectors.regressions_of(project),
            "open_alerts": watch_selectors.open_alert_count(project)}
