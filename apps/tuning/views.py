from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, project_for_user
from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_wait_reason
from apps.core.params import sort_param

from . import selectors, services
from .forms import LaunchForm
from .models import ExportFormat


@require_GET
@login_required
def job_list(request, project_id):
    project = project_for_user(request.user, project_id)
    sort = sort_param(request.GET, selectors.JOB_SORTS, default="-started")
    return render(request, "tuning/list.html", {"project": project, "jobs": selectors.jobs_of(project, sort=sort),
                                                "is_lead": has_role(project, Role.LEAD), "sort": sort})


@require_http_methods(["GET", "POST"])
@login_required
def job_launch(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    form = LaunchForm(request.POST or None, project=project)
    problems = []
    if request.method == "POST" and form.is_valid():
        try:
            job = services.finetune_launch(project=project, base_model=form.cleaned_data["base_model"],
                                           backend=form.cleaned_data["backend"], points=form.cleaned_data["points"],
                                           hyperparameters=form.hyperparameters(), user=request.user)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            problems = exc.problems
        else:
            messages.success(request, f"Fine-tune {job.id} queued with {job.example_count} examples.")
            return redirect("tuning:detail", job_id=job.id)
    return render(request, "tuning/launch.html", {
        "project": project, "form": form, "problems": problems, "counts": selectors.example_counts(project),
        "total_examples": project.training_examples.count(),
    })


@require_GET
@login_required
def job_detail(request, job_id):
    job = selectors.job_for_user(request.user, job_id)
    context = {"job": job, "project": job.project, "chart": selectors.loss_chart(job),
               "exports": list(selectors.exports_of(job)), "export_formats": ExportFormat.choices,
               "is_lead": has_role(job.project, Role.LEAD), "waiting": job_wait_reason(job),
               "cost": selectors.job_cost(job)}
    context["exports_active"] = any(export.is_active for export in context["exports"])
    if request.htmx and request.GET.get("part") == "exports":
        response = render(request, "tuning/_exports.html", context)
        if not context["exports_active"]:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    if request.htmx:
        response = render(request, "tuning/_status.html", context)
        if not job.is_active:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "tuning/detail.html", context)


@require_POST
@login_required
def job_cancel(request, job_id):
    job = selectors.job_for_user(request.user, job_id, role=Role.LEAD)
    try:
        services.finetune_cancel(job=job)
        messages.success(request, f"Cancelled fine-tune {job.id}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("tuning:detail", job_id=job.id)


@require_GET
@login_required
def training_file(request, job_id):
    job = selectors.job_for_user(request.user, job_id, role=Role.LEAD)
    return FileResponse(job.training_file.open("rb"), as_attachment=True,
                        filename=f"finetune-{job.id}-{job.training_file_sha256[:12]}.jsonl")


@require_POST
@login_required
def export_create(request, job_id):
    from .exports import export_create as create

    job = selectors.job_for_user(request.user, job_id, role=Role.LEAD)
    try:
        export = create(job=job, export_format=request.POST.get("format", ""), user=request.user)
        messages.success(request, f"Export {export.id} ({export.get_format_display()}) queued.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("tuning:detail", job_id=job.id)


@require_GET
@login_required
def export_download(request, export_id):
    export = selectors.export_for_user(request.user, export_id)
    if export.status != "SUCCEEDED" or not export.archive:
        raise Http404("This export has no archive yet.")
    return FileResponse(export.archive.open("rb"), as_attachment=True, filename=export.archive.name.rsplit("/", 1)[-1])
