from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, project_for_user
from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_progress, job_wait_reason
from apps.core.models import JobStatus
from apps.core.params import choice_param, sort_param

from . import selectors, services
from .exporters import export_formats_for, export_response
from .forms import DatasetForm, ImportForm, RecordFilterForm, RecordsChosenForm, SplitForm
from .models import Split

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
    sort = sort_param(request.GET, selectors.RECORD_SORTS, default="position")
    records = selectors.records_filtered(dataset, sort=sort, **selectors.record_filters(request.GET))
    page = Paginator(records, RECORDS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "dataset": dataset, "project": project, "page": page, "filter_form": filter_form, "sort": sort,
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


@require_POST
@login_required
def import_cancel(request, import_id):
    dataset_import = selectors.import_for_user(request.user, import_id, role=Role.LEAD)
    if services.import_cancel(dataset_import=dataset_import):
        messages.success(request, f"Cancelled the import of {dataset_import.original_name}; none of it was kept.")
    else:
        messages.error(request, "This import had already finished.")
    return redirect("datasets:import_detail", import_id=dataset_import.id)


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


@require_POST
@login_required
def records_delete(request, dataset_id):
    dataset = selectors.dataset_for_user(request.user, dataset_id, role=Role.LEAD)
    form = RecordsChosenForm(dataset, request.POST)
    if not form.is_valid():
        return _bulk_refused(request, dataset, form)
    records = form.cleaned_data["record"]
    if not form.cleaned_data["confirm"]:
        return render(request, "datasets/records_confirm.html", {
            "dataset": dataset, "project": dataset.project, "records": records, "danger": True,
            "question": f"Delete {len(records)} record{pluralize(len(records))}?",
            "consequence": "They leave the dataset for good, with the model outputs and grades made from them. "
                           "Test cases and training examples made from them stay.",
            "button": f"Delete {len(records)} record{pluralize(len(records))}"})
    count = services.records_delete(dataset=dataset, records=records)
    messages.success(request, f"Deleted {count} record{pluralize(count)}.")
    return redirect("datasets:detail", dataset_id=dataset.id)


@require_POST
@login_required
def records_move(request, dataset_id):
    dataset = selectors.dataset_for_user(request.user, dataset_id, role=Role.LEAD)
    form = RecordsChosenForm(dataset, request.POST)
    if not form.is_valid():
        return _bulk_refused(request, dataset, form)
    records, split = form.cleaned_data["record"], form.cleaned_data["split"]
    split_name = Split(split).label.lower()
    if not form.cleaned_data["confirm"]:
        return render(request, "datasets/records_confirm.html", {
            "dataset": dataset, "project": dataset.project, "records": records, "split": split,
            "question": f"Move {len(records)} record{pluralize(len(records))} to {split_name}?",
            "consequence": "Runs already made keep their outputs; new runs and exports see the new split.",
            "button": f"Move to {split_name}"})
    count = services.records_set_split(records=records, split=split)
    messages.success(request, f"Moved {count} record{pluralize(count)} to {split_name}.")
    return redirect("datasets:detail", dataset_id=dataset.id)


def _bulk_refused(request, dataset, form):
    messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
    return redirect("datasets:detail", dataset_id=dataset.id)
