from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, project_for_user
from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_progress, job_wait_reason
from apps.core.models import JobStatus
from apps.core.params import choice_param

from . import selectors, services
from .exporters import export_formats_for, export_response
from .forms import DatasetForm, ImportForm, RecordFilterForm, SplitForm

RECORDS_PER_PAGE = 50


@require_http_methods(["GET", "POST"])
@login_required
def dataset_create(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    form = DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        dataset = services.dataset_create(project=project, user=request.user, **form.cleaned_data)
        messages.success(request, f"Created {dataset.name}. Upload a file to fill it.")
        return redirect("datasets:import", dataset_id=dataset.id)
    return render(request, "datasets/form.html", {"form": form, "project": project})


@require_GET
@login_required
def dataset_detail(request, dataset_id):
    dataset = selectors.dataset_for_user(request.user, dataset_id)
    project = dataset.project
    filter_form = RecordFilterForm(request.GET)
    records = selectors.records_filtered(dataset, **selectors.record_filters(request.GET))
    page = Paginator(records, RECORDS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "dataset": dataset, "project": project, "page": page, "filter_form": filter_form,
        "filter_query": _query_without_page(request), "is_lead": has_role(project, Role.LEAD),
        "label_counts": selectors.label_counts(dataset) if project.kind.record_field == "label" else [],
        "label_choices": project.labels if project.kind.record_field == "label" else [],
        "split_form": SplitForm(), "export_formats": export_formats_for(project),
        "recent_imports": dataset.imports.all()[:5],
    }
    template = "datasets/_records.html" if request.htmx and request.htmx.target == "records" else "datasets/detail.html"
    return render(request, template, context)


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@require_http_methods(["GET", "POST"])
@login_required
def dataset_import(request, dataset_id):
    dataset = selectors.dataset_for_user(request.user, dataset_id, role=Role.LEAD)
    form = ImportForm(request.POST or None, request.FILES or None)
    dataset_import = None
    if request.method == "POST" and form.is_valid():
        try:
            dataset_import = services.dataset_import_start(
                dataset=dataset, upload=form.cleaned_data["file"], file_format=form.cleaned_data["format"],
                options=form.import_options(), user=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            if isinstance(exc, services.ColumnChoiceNeeded):
                form.offer_columns(exc.columns)
        else:
            if dataset_import.status == JobStatus.SUCCEEDED:
                messages.success(request, f"Imported {dataset_import.records_imported} records.")
                for notice in dataset_import.notices:  # what was converted as asked (IOB1 tags)
                    messages.warning(request, notice)
                return redirect("datasets:detail", dataset_id=dataset.id)
            if not dataset_import.is_finished:
                return redirect("datasets:import_detail", import_id=dataset_import.id)
    return render(request, "datasets/import.html", {
        "dataset": dataset, "project": dataset.project, "form": form, "failed_import": dataset_import,
    })


@require_GET
@login_required
def import_detail(request, import_id):
    dataset_import = selectors.import_for_user(request.user, import_id)
    context = {
        "imp": dataset_import, "dataset": dataset_import.dataset, "project": dataset_import.dataset.project,
        "progress": job_progress(dataset_import), "waiting": job_wait_reason(dataset_import),
        "is_lead": has_role(dataset_import.dataset.project, Role.LEAD),
    }
    if request.htmx:
        response = render(request, "datasets/_import_status.html", context)
        if dataset_import.is_finished:
            # 286 tells htmx to stop polling; the partial already shows the outcome.
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "datasets/import_detail.html", context)


@require_GET
@login_required
def dataset_export(request, dataset_id):
    dataset = selectors.dataset_for_user(request.user, dataset_id)
    export_format = choice_param(request.GET, "format", export_formats_for(dataset.project), default="csv")
    records = selectors.records_filtered(dataset, **selectors.record_filters(request.GET))
    return export_response(dataset, records, export_format)


@require_POST
@login_required
def dataset_split(request, dataset_id):
    dataset = selectors.dataset_for_user(request.user, dataset_id, role=Role.LEAD)
    form = SplitForm(request.POST)
    records = selectors.records_filtered(dataset, **selectors.record_filters(request.POST))
    if not form.is_valid():
        messages.error(request, "Choose how to split.")
    elif form.cleaned_data["mode"] == "set":
        target = form.cleaned_data["target"] or ""
        count = services.records_set_split(records=records, split=target)
        messages.success(request, f"Moved {count} records to {target or 'unassigned'}.")
    else:
        share = (form.cleaned_data["test_percent"] or 0) / 100
        counts = services.records_random_split(records=records, test_share=share, seed=form.cleaned_data["seed"] or 0)
        messages.success(request, f"Split {counts['train']} records into train and {counts['test']} into test.")
    return redirect("datasets:detail", dataset_id=dataset.id)


@require_POST
@login_required
def dataset_delete(request, dataset_id):
    dataset = selectors.dataset_for_user(request.user, dataset_id, role=Role.LEAD)
    project_id, name = dataset.project_id, dataset.name
    services.dataset_delete(dataset=dataset)
    messages.success(request, f"Deleted {name}.")
    return redirect("projects:detail", project_id=project_id)
