from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, members_of, project_for_user
from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_progress, job_wait_reason
from apps.core.live import finished_page_swap
from apps.core.models import JobStatus
from apps.core.params import choice_param, int_param, search_param, sort_param
from apps.datasets.forms import RecordsChosenForm
from apps.datasets.selectors import dataset_for_user
from apps.runs.selectors import run_for_user

from . import exporters, selectors, services
from . import paraphrases as paraphrase_services
from .forms import (
    AdjudicateForm,
    ExampleEditForm,
    ExampleForm,
    GradeForm,
    MergeForm,
    ParaphraseRequestForm,
    PointForm,
    ProposalAcceptForm,
    ReviewFilterForm,
    TestCaseForm,
    TestCaseImportForm,
)
from .queue import lease_renew_seconds, queue_take, review_lease_renew
from .screen import screen_context

# --- the review screen -------------------------------------------------------------------

def _review_url(run, output_id, query: str) -> str:
    url = reverse("review:output", args=[run.id, output_id])
    return f"{url}?{query}" if query else url


def _filters_and_query(request) -> tuple[dict, str]:
    params = request.GET if request.method == "GET" else request.POST
    form = ReviewFilterForm(params)
    # Encoded, so that whatever was typed stays a query string (and a header value: HX-Push-Url).
    query = urlencode([(k, params[k]) for k in ("show", "label", "point", "by") if params.get(k)])
    return form.filters(), query


def _leases(run, filters) -> bool:
    """Only a reviewer working the queue of outputs waiting for them holds what they see; a lead or admin who
    looks, and anyone browsing another view, takes nothing away from the reviewers."""
    return filters.get("show", "ungraded") == "ungraded" and not has_role(run.project, Role.LEAD)


def _done_context(request, run, query) -> dict:
    return {"run": run, "project": run.project, "query": query, "counts": selectors.queue_counts(run, request.user),
            "held": selectors.held_by_others(run, request.user)}


@require_POST
@login_required
def review_lease(request, run_id, output_id):
    """The open review screen renews its lease every so often (204); 409 when someone else holds the output."""
    run = run_for_user(request.user, run_id)
    output = selectors.output_in_run(run, output_id)
    renewed = review_lease_renew(output=output, reviewer=request.user)
    return HttpResponse(status=204 if renewed else 409)


@require_GET
@login_required
def review_start(request, run_id):
    run = run_for_user(request.user, run_id)
    filters, query = _filters_and_query(request)
    output = queue_take(run=run, reviewer=request.user, lease=_leases(run, filters), **filters)
    if output is None:
        return render(request, "review/done.html", _done_context(request, run, query))
    return redirect(_review_url(run, output.id, query))


@require_GET
@login_required
def review_output(request, run_id, output_id):
    run = run_for_user(request.user, run_id)
    output = selectors.output_in_run(run, output_id)
    filters, query = _filters_and_query(request)
    return _render_screen(request, run, output, filters, query)


def _render_screen(request, run, output, filters, query, notes=(), status=200, refused=()):
    context = screen_context(run=run, output=output, reviewer=request.user, filters=filters, query=query)
    template = "review/_panel.html" if request.htmx else "review/screen.html"
    context.update({"notes": notes, "refused": refused,
                    "renews_lease": _leases(run, filters) and run.reviews_per_output == 1,
                    "renew_seconds": lease_renew_seconds()})
    response = render(request, template, context, status=status)
    if request.htmx:
        response["HX-Push-Url"] = _review_url(run, output.id, query)
    return response


@require_POST
@login_required
def review_grade(request, run_id, output_id):
    run = run_for_user(request.user, run_id)
    output = selectors.output_in_run(run, output_id)
    filters, query = _filters_and_query(request)
    form = GradeForm(request.POST)
    if not form.is_valid():
        return _render_screen(request, run, output, filters, query, notes=_errors(form), status=400)
    try:
        result = services.grade_submit(output=output, reviewer=request.user, **form.grade_arguments())
    except ApplicationError as exc:
        return _render_screen(request, run, output, filters, query, notes=[exc.message], status=400)
    following = queue_take(run=run, reviewer=request.user, after_id=output.id,
                           lease=_leases(run, filters), **filters)
    if following is None:
        if request.htmx:
            response = render(request, "review/_done_panel.html", {
                **_done_context(request, run, query), "notes": result.notes, "refused": result.refused})
            response["HX-Push-Url"] = reverse("review:start", args=[run.id]) + (f"?{query}" if query else "")
            return response
        return redirect(reverse("review:start", args=[run.id]) + (f"?{query}" if query else ""))
    if not request.htmx:
        for note in result.notes:
            messages.info(request, note)
        for refusal in result.refused:
            messages.error(request, f"Not saved: {refusal}")
        return redirect(_review_url(run, following.id, query))
    return _render_screen(request, run, selectors.output_in_run(run, following.id), filters, query,
                          notes=[f"Saved: {result.grade.get_verdict_display().lower()}.", *result.notes],
                          refused=result.refused)


def _errors(form) -> list[str]:
    return [str(e) for errors in form.errors.values() for e in errors]


@require_POST
@login_required
def review_undo(request, run_id):
    run = run_for_user(request.user, run_id)
    filters, query = _filters_and_query(request)
    output = services.grade_undo(reviewer=request.user, run=run)
    if output is None:
        notes = ["Nothing to undo."]
        output = queue_take(run=run, reviewer=request.user, **filters)
        if output is None:
            return redirect("review:start", run_id=run.id)
    else:
        notes = ["Undone: the grade was taken back."]
    output = selectors.output_in_run(run, output.id)
    if not request.htmx:
        return redirect(_review_url(run, output.id, query))
    return _render_screen(request, run, output, filters, query, notes=notes)


# --- training points ---------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@login_required
def point_list(request, project_id):
    project = project_for_user(request.user, project_id)
    form = PointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            point = services.point_create(project=project, user=request.user, name=form.cleaned_data["name"],
                                          description=form.cleaned_data["description"])
            messages.success(request, f"Created the training point '{point.name}'.")
            return redirect("review:point", point_id=point.id)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    sort = sort_param(request.GET, selectors.POINT_SORTS, default="status")
    return render(request, "review/points.html", {
        "project": project, "points": selectors.points_of(project, sort=sort), "form": form, "sort": sort,
        "is_lead": has_role(project, Role.LEAD),
    })


@require_GET
@login_required
def point_detail(request, point_id):
    point = selectors.point_for_user(request.user, point_id)
    project = point.project
    return render(request, "review/point.html", {
        "project": project, "point": point, "is_lead": has_role(project, Role.LEAD),
        "failures": point.grades.filter(verdict="fail").select_related("output__record", "output__run",
                                                                        "reviewer")[:100],
        "examples": point.training_examples.all()[:100], "test_cases": point.test_cases.all()[:100],
        "edit_form": PointForm(initial={"name": point.name, "description": point.description,
                                        "status": point.status}),
        "others": project.training_points.exclude(id=point.id),
    })


@require_POST
@login_required
def point_edit(request, point_id):
    point = selectors.point_for_user(request.user, point_id, role=Role.LEAD)
    form = PointForm(request.POST)
    if form.is_valid():
        try:
            services.point_update(point=point, **form.cleaned_data)
            messages.success(request, "Saved the training point.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect("review:point", point_id=point.id)


@require_POST
@login_required
def point_merge(request, point_id):
    point = selectors.point_for_user(request.user, point_id, role=Role.LEAD)
    form = MergeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the point to merge into.")
        return redirect("review:point", point_id=point.id)
    target = selectors.point_for_user(request.user, form.cleaned_data["into"], role=Role.LEAD)
    try:
        services.point_merge(source=point, target=target)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("review:point", point_id=point.id)
    messages.success(request, f"Merged into '{target.name}'.")
    return redirect("review:point", point_id=target.id)


# --- training examples and test cases ----------------------------------------------------

@require_http_methods(["GET", "POST"])
@login_required
def example_list(request, project_id):
    project = project_for_user(request.user, project_id)
    form = ExampleForm(request.POST or None, project=project)
    if request.method == "POST":
        project_for_user(request.user, project_id, role=Role.LEAD)
        if form.is_valid():
            data = form.cleaned_data
            try:
                example = services.training_example_write(project=project, version=data["prompt_version"],
                                                          text=data["text"], answer=data["answer"],
                                                          point_names=data["points"], user=request.user)
                messages.success(request, f"Added training example #{example.id}.")
                return redirect("review:examples", project_id=project.id)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
    point_id, q = int_param(request.GET, "point"), search_param(request.GET)
    sort = sort_param(request.GET, selectors.EXAMPLE_SORTS, default="-added")
    examples = selectors.examples_of(project, point_id=point_id, q=q, sort=sort)
    return render(request, "review/examples.html", {
        "project": project, "examples": examples[:500], "points": project.training_points.all(),
        "point_id": point_id, "is_lead": has_role(project, Role.LEAD), "form": form, "q": q, "sort": sort,
    })


@require_http_methods(["GET", "POST"])
@login_required
def example_edit(request, example_id):
    example = selectors.example_for_user(request.user, example_id, role=Role.LEAD)
    initial = {"answer": example.answer, "points": "\n".join(p.name for p in example.points.all())}
    form = ExampleEditForm(request.POST or None, initial=initial, project=example.project)
    if request.method == "POST" and form.is_valid():
        try:
            points = services.points_by_names(project=example.project, names=form.cleaned_data["points"],
                                              user=request.user)
            services.training_example_update(example=example, answer=form.cleaned_data["answer"], points=points)
            messages.success(request, f"Saved training example #{example.id}.")
            return redirect("review:examples", project_id=example.project_id)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    return render(request, "review/example_form.html", {"project": example.project, "example": example,
                                                        "form": form})


@require_POST
@login_required
def example_delete(request, example_id):
    example = selectors.example_for_user(request.user, example_id, role=Role.LEAD)
    services.training_example_delete(example=example)
    messages.success(request, f"Deleted training example #{example_id}.")
    return redirect("review:examples", project_id=example.project_id)


@require_http_methods(["GET", "POST"])
@login_required
def test_case_edit(request, case_id):
    case = selectors.test_case_for_user(request.user, case_id, role=Role.LEAD)
    initial = {"text": case.text, "expected": case.expected, "paraphrase_group": case.paraphrase_group,
               "points": "\n".join(p.name for p in case.points.all())}
    form = TestCaseForm(request.POST or None, initial=initial, project=case.project)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            points = services.points_by_names(project=case.project, names=data["points"], user=request.user)
            services.test_case_update(case=case, text=data["text"], expected=data["expected"], points=points,
                                      paraphrase_group=data["paraphrase_group"])
            messages.success(request, f"Saved test case #{case.id}.")
            return redirect("review:test_cases", project_id=case.project_id)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    return render(request, "review/test_case_form.html", {"project": case.project, "case": case, "form": form})


@require_POST
@login_required
def test_case_delete(request, case_id):
    case = selectors.test_case_for_user(request.user, case_id, role=Role.LEAD)
    services.test_case_delete(case=case)
    messages.success(request, f"Deleted test case #{case_id}.")
    return redirect("review:test_cases", project_id=case.project_id)


@require_GET
@login_required
def example_export(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    export_format = choice_param(request.GET, "format", exporters.FORMATS, default="openai")
    examples = project.training_examples.all()
    point_id = int_param(request.GET, "point")
    if point_id is not None:
        examples = examples.filter(points=point_id)
    response = StreamingHttpResponse(exporters.training_examples(examples, export_format),
                                     content_type="application/jsonl; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="training-examples-{export_format}.jsonl"'
    return response


@require_http_methods(["GET", "POST"])
@login_required
def test_case_list(request, project_id):
    project = project_for_user(request.user, project_id)
    form = TestCaseForm(request.POST or None, project=project)
    if request.method == "POST":
        project_for_user(request.user, project_id, role=Role.LEAD)
        if form.is_valid():
            data = form.cleaned_data
            try:
                points = services.points_by_names(project=project, names=data["points"], user=request.user)
                case = services.test_case_create(project=project, text=data["text"], expected=data["expected"],
                                                 points=points, paraphrase_group=data["paraphrase_group"],
                                                 user=request.user)
                messages.success(request, f"Added test case #{case.id}.")
                return redirect("review:test_cases", project_id=project.id)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
    point_id, q = int_param(request.GET, "point"), search_param(request.GET)
    sort = sort_param(request.GET, selectors.TEST_CASE_SORTS, default="group")
    cases = selectors.test_cases_of(project, point_id=point_id, q=q, sort=sort)
    return render(request, "review/test_cases.html", {
        "project": project, "cases": cases[:500], "form": form, "import_form": TestCaseImportForm(),
        "q": q, "sort": sort,
        "is_lead": has_role(project, Role.LEAD),
    })


@require_POST
@login_required
def records_to_test_cases(request, dataset_id):
    """The dataset page's bulk action: hold out the ticked records as test cases, after a confirmation."""
    dataset = dataset_for_user(request.user, dataset_id, role=Role.LEAD)
    form = RecordsChosenForm(dataset, request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
        return redirect("datasets:detail", dataset_id=dataset.id)
    records = form.cleaned_data["record"]
    if not form.cleaned_data["confirm"]:
        count = len(records)
        return render(request, "datasets/records_confirm.html", {
            "dataset": dataset, "project": dataset.project, "records": records,
            "question": f"Make {count} test case{pluralize(count)}?",
            "consequence": "Each expects the record's own answer and is held out of training; a record that is "
                           "a training example, or has no answer, is refused and listed.",
            "button": f"Make {count} test case{pluralize(count)}"})
    made, refused = services.test_cases_from_records(project=dataset.project, records=records, user=request.user)
    messages.success(request, f"Made {made} test case{pluralize(made)}.")
    if refused:
        messages.warning(request, f"Refused {len(refused)}: " + " ".join(refused))
    return redirect("datasets:detail", dataset_id=dataset.id)


@require_POST
@login_required
def test_case_import(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    form = TestCaseImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a JSONL file.")
        return redirect("review:test_cases", project_id=project.id)
    try:
        case_import = services.test_cases_import_start(project=project, upload=form.cleaned_data["file"],
                                                       user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("review:test_cases", project_id=project.id)
    if case_import.is_active:  # a large file: its page follows the job
        return redirect("review:test_case_import_detail", import_id=case_import.id)
    if case_import.status == JobStatus.SUCCEEDED:
        messages.success(request, f"Imported {case_import.cases_imported} test cases.")
    else:
        messages.error(request, " ".join([case_import.error, *(f"Line {p['line']}: {p['message']}."
                                                                for p in case_import.problems)]))
    return redirect("review:test_cases", project_id=project.id)


@require_GET
@login_required
def test_case_import_detail(request, import_id):
    case_import = selectors.test_case_import_for_user(request.user, import_id)
    context = {"imp": case_import, "project": case_import.project, "progress": job_progress(case_import),
               "waiting": job_wait_reason(case_import)}
    if request.htmx:
        response = render(request, "review/_test_case_import_status.html", context)
        if case_import.is_finished:
            # 286 tells htmx to stop polling; the partial already shows the outcome.
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "review/test_case_import.html", context)


@require_POST
@login_required
def test_case_import_cancel(request, import_id):
    case_import = selectors.test_case_import_for_user(request.user, import_id)
    if services.test_case_import_cancel(case_import=case_import):
        messages.success(request, f"Cancelled the import of {case_import.original_name}; none of it was kept.")
    else:
        messages.error(request, "This import had already finished.")
    return redirect("review:test_case_import_detail", import_id=case_import.id)


# --- paraphrase proposals ----------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@login_required
def paraphrases(request, case_id):
    """A test case's paraphrases: a lead asks a model for some, then accepts or rejects each proposal."""
    case = selectors.test_case_for_user(request.user, case_id, role=Role.REVIEWER)
    form = ParaphraseRequestForm(request.POST or None, project=case.project)
    if request.method == "POST":
        selectors.test_case_for_user(request.user, case_id, role=Role.LEAD)
        if form.is_valid():
            paraphrase_services.paraphrases_request(case=case, user=request.user, **form.cleaned_data)
            messages.success(request, f"Asked {form.cleaned_data['model'].name} for {form.cleaned_data['count']} "
                                      "paraphrases.")
            return redirect("review:paraphrases", case_id=case.id)
    requests = list(selectors.paraphrase_requests_of(case)[:20])
    active = next((r for r in requests if r.is_active), None)
    polling = request.htmx and request.htmx.target == "paraphrase-status"
    context = {"project": case.project, "case": case, "form": form, "requests": requests, "active": active,
               "waiting": job_wait_reason(active) if active else "", "is_lead": has_role(case.project, Role.LEAD),
               "proposals": selectors.proposals_of(case), "accept_form": ProposalAcceptForm(),
               "group": selectors.paraphrase_group_of(case)}
    if polling and active:
        return render(request, "review/_paraphrase_status.html", context)
    response = render(request, "review/paraphrases.html", context)
    return finished_page_swap(response) if polling else response


@require_POST
@login_required
def proposal_accept(request, proposal_id):
    proposal = selectors.proposal_for_user(request.user, proposal_id)
    form = ProposalAcceptForm(request.POST)
    text = (form.cleaned_data["text"] or None) if form.is_valid() else None
    try:
        proposal = paraphrase_services.proposal_accept(proposal=proposal, user=request.user, text=text)
        messages.success(request, f"Added test case #{proposal.accepted_as_id} to the paraphrase group "
                                  f"“{proposal.accepted_as.paraphrase_group}”.")
    except ApplicationError as exc:
        messages.error(request, f"Not added: {exc.message}")
    return redirect(reverse("review:paraphrases", args=[proposal.test_case_id]) + "#proposals")


@require_POST
@login_required
def proposal_reject(request, proposal_id):
    proposal = selectors.proposal_for_user(request.user, proposal_id)
    try:
        paraphrase_services.proposal_reject(proposal=proposal, user=request.user)
        messages.success(request, "Rejected the proposal.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("review:paraphrases", args=[proposal.test_case_id]) + "#proposals")


# --- agreement and adjudication ----------------------------------------------------------

@require_GET
@login_required
def agreement(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    return render(request, "review/agreement.html", {
        "project": project, "agreement": selectors.agreement(project),
        "disagreements": selectors.disagreements(project)[:100], "members": members_of(project),
        "adjudicate_form": AdjudicateForm(project=project, auto_id=False),
    })


@require_POST
@login_required
def adjudicate(request, project_id, output_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    output = selectors.output_in_project(project, output_id)
    form = AdjudicateForm(request.POST, project=project)
    if not form.is_valid():
        messages.error(request, "Say pass or fail. " + " ".join(_errors(form)))
        return redirect("review:agreement", project_id=project.id)
    try:
        services.adjudicate(output=output, lead=request.user, **form.cleaned_data)
        messages.success(request, "Decided.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("review:agreement", project_id=project.id)
