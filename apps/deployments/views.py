import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, project_for_user
from apps.core import csv_export
from apps.core.exceptions import ApplicationError
from apps.core.params import choice_param, sort_param

from . import analytics, selectors, services
from .forms import DeploymentForm, KeyForm, PromoteForm, SettingsForm, TraceFilterForm

TRACES_PER_PAGE = 50


@require_http_methods(["GET", "POST"])
@login_required
def deployment_list(request, project_id):
    project = project_for_user(request.user, project_id)
    is_lead = has_role(project, Role.LEAD)
    form = DeploymentForm(request.POST or None)
    if request.method == "POST":
        project_for_user(request.user, project_id, role=Role.LEAD)
        if form.is_valid():
            try:
                deployment = services.deployment_create(project=project, user=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Deployment {deployment.slug} created: promote a version to serve it.")
                return redirect("deployments:detail", deployment_id=deployment.id)
    sort = sort_param(request.GET, selectors.DEPLOYMENT_SORTS, default="slug")
    return render(request, "deployments/list.html", {"project": project, "form": form, "is_lead": is_lead,
                                                     "deployments": selectors.deployments_of(project, sort=sort),
                                                     "sort": sort})


@require_GET
@login_required
def deployment_detail(request, deployment_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id)
    project = deployment.project
    return render(request, "deployments/detail.html", {
        "deployment": deployment, "project": project, "is_lead": has_role(project, Role.LEAD),
        "is_admin": has_role(project, Role.ADMIN), "promotions": selectors.promotions_of(deployment)[:50],
        "candidates": selectors.candidate_evals(deployment), "keys": selectors.keys_of(deployment),
        "promote_form": PromoteForm(project=project, initial={"model": deployment.model_id,
                                                              "prompt_version": deployment.prompt_version_id}),
        "key_form": KeyForm(), "lost": selectors.lost_traces(deployment),
        "agreement": analytics.shadow_agreement(deployment),
        "current_eval": deployment.current_promotion.eval_run if deployment.current_promotion else None})


@require_http_methods(["GET", "POST"])
@login_required
def deployment_settings(request, deployment_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
    form = SettingsForm(request.POST or None, instance=deployment, project=deployment.project)
    if request.method == "POST" and form.is_valid():
        try:
            services.deployment_update(deployment=deployment, **{name: form.cleaned_data[name]
                                                                 for name in SettingsForm.Meta.fields})
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Settings saved.")
            return redirect("deployments:detail", deployment_id=deployment.id)
    return render(request, "deployments/settings.html", {"deployment": deployment, "project": deployment.project,
                                                         "form": form})


@require_POST
@login_required
def promote(request, deployment_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
    form = PromoteForm(request.POST, project=deployment.project)
    if form.is_valid():
        try:
            promotion = services.promotion_create(deployment=deployment, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Promoted {promotion.model} with {promotion.prompt_version}.")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("deployments:detail", deployment_id=deployment.id)


@require_POST
@login_required
def rollback(request, deployment_id, promotion_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
    target = selectors.promotion_of(deployment, promotion_id)
    try:
        services.promotion_rollback(deployment=deployment, to=target, user=request.user,
                                    reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Rolled back to promotion {target.id}.")
    return redirect("deployments:detail", deployment_id=deployment.id)


@never_cache  # the response shows the key's secret: no browser or proxy may keep a copy
@require_POST
@login_required
def key_create(request, deployment_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
    form = KeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the key a name.")
        return redirect("deployments:detail", deployment_id=deployment.id)
    key, secret = services.key_create(deployment=deployment, user=request.user, **form.cleaned_data)
    # The secret is shown on this response only: it is not stored and cannot be shown again.
    return render(request, "deployments/key_created.html", {"deployment": deployment, "project": deployment.project,
                                                            "key": key, "secret": secret}, status=201)


@require_POST
@login_required
def key_revoke(request, deployment_id, key_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id, role=Role.LEAD)
    key = services.key_revoke(key=selectors.key_of(deployment, key_id), user=request.user)
    messages.success(request, f"Key {key} revoked: calls with it now get 401.")
    return redirect("deployments:detail", deployment_id=deployment.id)


def _filters(request) -> tuple[TraceFilterForm, selectors.TraceFilters]:
    form = TraceFilterForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    return form, selectors.TraceFilters(**{k: v for k, v in data.items() if v not in (None, "")})


@require_GET
@login_required
def trace_list(request, deployment_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id)
    form, filters = _filters(request)
    sort = sort_param(request.GET, selectors.TRACE_SORTS, default="-time")
    traces = selectors.traces_filtered(deployment, filters, sort=sort)
    page = Paginator(traces, TRACES_PER_PAGE).get_page(request.GET.get("page"))
    feedback = selectors.feedback_summary(list(page.object_list))
    for trace in page.object_list:
        trace.feedback_items = feedback.get(trace.id, [])
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "deployments/traces.html", {
        "deployment": deployment, "project": deployment.project, "page": page, "form": form, "sort": sort,
        "filter_query": query.urlencode()})


@require_GET
@login_required
def trace_detail(request, deployment_id, trace_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id)
    trace = selectors.trace_of(deployment, trace_id)
    return render(request, "deployments/trace.html", {
        "deployment": deployment, "project": deployment.project, "trace": trace,
        "feedback": trace.feedback.all(), "messages_json": json.dumps(trace.messages, indent=2, ensure_ascii=False),
        "answer_json": json.dumps(trace.answer, indent=2, ensure_ascii=False),
        "metadata_json": json.dumps(trace.metadata, indent=2, ensure_ascii=False)})


EXPORT_FIELDS = ["id", "created_at", "endpoint", "status", "valid", "text", "answer", "problems", "error",
                 "latency_ms", "input_tokens", "output_tokens", "model_id", "prompt_version_id", "shadow_answer",
                 "metadata", "sampled_reason"]
TRACE_EXPORT_FORMATS = ("csv", "jsonl")


@require_GET
@login_required
def trace_export(request, deployment_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id)
    _, filters = _filters(request)
    fmt = choice_param(request.GET, "format", TRACE_EXPORT_FORMATS, default="csv")
    rows = selectors.traces_filtered(deployment, filters).values(*EXPORT_FIELDS).iterator(chunk_size=1000)
    if fmt == "jsonl":
        lines = (json.dumps(row, default=str, ensure_ascii=False) + "\n" for row in rows)
        response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
    else:
        response = StreamingHttpResponse(csv_export.stream(_csv_rows(rows)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="traces-{deployment.slug}.{fmt}"'
    return response


def _csv_rows(rows):
    yield EXPORT_FIELDS
    for row in rows:
        yield [json.dumps(row[f], ensure_ascii=False) if isinstance(row[f], dict | list) else row[f]
               for f in EXPORT_FIELDS]


@require_GET
@login_required
def traffic(request, deployment_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id)
    days = analytics.daily(deployment)
    return render(request, "deployments/traffic.html", {
        "deployment": deployment, "project": deployment.project, "days": days,
        "charts": analytics.charts(days), "drift": analytics.drift(deployment),
        "points": analytics.reviewed_pass_rates(deployment)})


@require_GET
@login_required
def traffic_export(request, deployment_id):
    deployment = selectors.deployment_for_user(request.user, deployment_id)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="traffic-{deployment.slug}.csv"'
    writer = csv_export.writer(response)
    writer.writerow(analytics.DAY_FIELDS)
    for day in analytics.daily(deployment):
        writer.writerow([getattr(day, f) for f in analytics.DAY_FIELDS])
    return response
