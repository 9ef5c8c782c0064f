"""Pages for watching deployments: schedules, alerts (acknowledge, resolve, rules) and webhooks (delivery log)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, project_for_user
from apps.core.exceptions import ApplicationError

from . import alerts, schedules, selectors, watch_selectors, webhooks
from .watch_forms import RuleForm, ScheduleForm, WebhookForm


@require_http_methods(["GET", "POST"])
@login_required
def schedule_list(request, deployment_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id)
    project = deployment.project
    form = ScheduleForm(request.POST or None, project=project)
    if request.method == "POST":
        selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
        if form.is_valid():
            try:
                schedules.schedule_create(deployment=deployment, user=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Schedule added: the next eval runs at the time shown.")
                return redirect("deployments:schedules", deployment_id=deployment.id)
    return render(request, "deployments/schedules.html", {
        "deployment": deployment, "project": project, "form": form, "is_lead": has_role(project, Role.LEAD),
        "schedules": watch_selectors.schedules_of(deployment),
        "scheduled": watch_selectors.scheduled_evals_of(deployment, limit=50)})


@require_POST
@login_required
def schedule_delete(request, deployment_id, schedule_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
    schedules.schedule_delete(schedule=watch_selectors.schedule_of(deployment, schedule_id))
    messages.success(request, "Schedule removed.")
    return redirect("deployments:schedules", deployment_id=deployment.id)


@require_http_methods(["GET", "POST"])
@login_required
def alert_list(request, project_id):
    project = project_for_user(request.user, project_id)
    form = RuleForm(request.POST or None, project=project)
    if request.method == "POST":
        project_for_user(request.user, project_id, role=Role.LEAD)
        if form.is_valid():
            try:
                alerts.rule_create(project=project, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, "Rule added: it is checked every minute.")
                return redirect("deployments:alerts", project_id=project.id)
    status = request.GET.get("status", "")
    return render(request, "deployments/alerts.html", {
        "project": project, "form": form, "is_lead": has_role(project, Role.LEAD), "status": status,
        "alerts": watch_selectors.alerts_of(project, status=status)[:200], "rules": watch_selectors.rules_of(project)})


@require_POST
@login_required
def alert_handle(request, project_id, alert_id, action):
    if action not in ("acknowledge", "resolve"):
        raise Http404
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    alert = watch_selectors.alert_of(project, alert_id)
    handle = alerts.alert_resolve if action == "resolve" else alerts.alert_acknowledge
    try:
        handle(alert=alert, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("deployments:alerts", project_id=project.id)


@require_POST
@login_required
def rule_delete(request, project_id, rule_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    watch_selectors.rule_of(project, rule_id).delete()
    messages.success(request, "Rule removed; its alerts stay.")
    return redirect("deployments:alerts", project_id=project.id)


@never_cache  # the page shows signing secrets: no browser or proxy may keep a copy
@require_http_methods(["GET", "POST"])
@login_required
def webhook_list(request, project_id):
    """Leads only: the page shows each webhook's signing secret."""
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            webhooks.webhook_create(project=project, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Webhook added: verify its signature with the secret shown.")
            return redirect("deployments:webhooks", project_id=project.id)
    return render(request, "deployments/webhooks.html", {
        "project": project, "form": form, "webhooks": watch_selectors.webhooks_of(project),
        "deliveries": watch_selectors.deliveries_of(project)})


@require_POST
@login_required
def webhook_delete(request, project_id, webhook_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    webhooks.webhook_delete(webhook=watch_selectors.webhook_of(project, webhook_id))
    messages.success(request, "Webhook removed with its delivery log.")
    return redirect("deployments:webhooks", project_id=project.id)


@require_POST
@login_required
def delivery_redeliver(request, project_id, delivery_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    webhooks.delivery_redeliver(delivery=watch_selectors.delivery_of(project, delivery_id))
    messages.success(request, "Delivery queued again.")
    return redirect("deployments:webhooks", project_id=project.id)
