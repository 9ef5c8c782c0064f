from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, project_for_user
from apps.core import csv_export
from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_wait_reason
from apps.core.live import finished_page_swap
from apps.core.params import int_param, query_without, search_param, sort_param

from . import selectors, services
from .forms import OutputFilterForm, RunForm

OUTPUTS_PER_PAGE = 50


@require_GET
@login_required
def run_list(request, project_id):
    project = project_for_user(request.user, project_id)
    sort, q = sort_param(request.GET, selectors.RUN_SORTS, default="-started"), search_param(request.GET)
    page = Paginator(selectors.runs_of(project, sort=sort, q=q), 25).get_page(request.GET.get("page"))
    return render(request, "runs/list.html", {
        "project": project, "page": page, "is_lead": has_role(project, Role.LEAD), "sort": sort, "q": q,
        "filter_query": query_without(request.GET, "page")})


@require_http_methods(["GET", "POST"])
@login_required
def run_create(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    # "Run this version" on a prompt version's page links here with ?prompt_version=<id>.
    version_id = int_param(request.GET, "prompt_version")
    form = RunForm(request.POST or None, project=project,
                   initial={"prompt_version": version_id} if version_id is not None else None)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.run_create(project=project, user=request.user, **form.run_arguments())
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Run {run.id} queued: {run.total} outputs to make.")
            return redirect("runs:detail", run_id=run.id)
    return render(request, "runs/form.html", {"project": project, "form": form})


@require_GET
@login_required
def run_detail(request, run_id):
    run = selectors.run_for_user(request.user, run_id)
    context = {"run": run, "project": run.project, "counts": selectors.output_counts(run),
               "is_lead": has_role(run.project, Role.LEAD), "alive": services.run_is_alive(run),
               "waiting": job_wait_reason(run)}
    polling = request.htmx and request.htmx.target == "run-status"
    if polling and run.is_active:
        return render(request, "runs/_status.html", context)
    filter_form = OutputFilterForm(request.GET)
    filters = filter_form.cleaned_data if filter_form.is_valid() else {}
    outputs = selectors.outputs_filtered(run, **{k: v for k, v in filters.items() if v})
    page = Paginator(outputs, OUTPUTS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context.update({"page": page, "filter_form": filter_form, "filter_query": query.urlencode(),
                    "filter_choices": run.project.kind.filter_choices(run.project), "cost": selectors.run_cost(run)})
    template = "runs/_outputs.html" if request.htmx and request.htmx.target == "outputs" else "runs/detail.html"
    response = render(request, template, context)
    return finished_page_swap(response) if polling else response


@require_GET
@login_required
def output_detail(request, output_id):
    output = selectors.output_for_user(request.user, output_id)
    template = "runs/_output_detail.html" if request.htmx else "runs/output.html"
    return render(request, template, {"output": output})


@require_GET
@login_required
def run_export(request, run_id):
    run = selectors.run_for_user(request.user, run_id)
    response = StreamingHttpResponse(csv_export.stream(selectors.output_rows(run)),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.id}-outputs.csv"'
    return response


@require_POST
@login_required
def run_cancel(request, run_id):
    run = selectors.run_for_user(request.user, run_id, role=Role.LEAD)
    if services.run_cancel(run=run):
        messages.success(request, f"Cancelled run {run.id}; its outputs so far are kept.")
    return redirect("runs:detail", run_id=run.id)


@require_POST
@login_required
def run_resume(request, run_id):
    run = selectors.run_for_user(request.user, run_id, role=Role.LEAD)
    try:
        services.run_resume(run=run)
        messages.success(request, f"Run {run.id} queued again: it continues where it stopped.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("runs:detail", run_id=run.id)
