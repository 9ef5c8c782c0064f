import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, project_for_user
from apps.core import csv_export
from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_is_alive, job_wait_reason
from apps.core.live import finished_page_swap
from apps.core.params import query_without, search_param, sort_param
from apps.review.selectors import reviewer_activity
from apps.tuning.selectors import job_for_user

from . import calibration, exports, human_review, label_results, selectors, services
from .forms import EvalForm, FineTuneEvalForm, OutputFilterForm, ReviewSendForm

OUTPUTS_PER_PAGE = 50


@require_GET
@login_required
def eval_list(request, project_id):
    project = project_for_user(request.user, project_id)
    sort, q = sort_param(request.GET, selectors.EVAL_SORTS, default="-started"), search_param(request.GET)
    page = Paginator(selectors.evals_of(project, sort=sort, q=q), 25).get_page(request.GET.get("page"))
    return render(request, "evals/list.html", {
        "project": project, "page": page, "is_lead": has_role(project, Role.LEAD), "sort": sort, "q": q,
        "filter_query": query_without(request.GET, "page")})


@require_http_methods(["GET", "POST"])
@login_required
def eval_create(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    chosen = {name: request.GET[name] for name in ("baseline", "model") if request.GET.get(name)}
    form = EvalForm(request.POST or None, project=project, initial=chosen)
    if request.method == "POST" and form.is_valid():
        try:
            eval_run = services.eval_create(project=project, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Eval {eval_run.id} queued: {eval_run.total} answers to score.")
            return redirect("evals:detail", eval_id=eval_run.id)
    return render(request, "evals/form.html", {"project": project, "form": form,
                                               "test_case_count": project.test_cases.count()})


@require_GET
@login_required
def eval_detail(request, eval_id):
    eval_run = selectors.eval_for_user(request.user, eval_id)
    context = {"eval": eval_run, "project": eval_run.project, "progress": selectors.progress(eval_run),
               "is_lead": has_role(eval_run.project, Role.LEAD), "alive": job_is_alive(eval_run),
               "waiting": job_wait_reason(eval_run)}
    polling = request.htmx and request.htmx.target == "eval-status"
    if polling and eval_run.is_active:
        return render(request, "evals/_status.html", context)
    filter_form = OutputFilterForm(request.GET)
    filters = filter_form.cleaned_data if filter_form.is_valid() else {}
    outputs = selectors.eval_outputs(eval_run, point_id=filters.get("point"), result=filters.get("result", ""),
                                   expected=filters.get("expected", ""), answered=filters.get("answered", ""))
    page = Paginator(outputs, OUTPUTS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    rows = selectors.result_rows(eval_run)
    context.update({"rows": rows, "page": page, "filter_form": filter_form,
                    "filter_query": query.urlencode(), "points": eval_run.project.training_points.all(),
                    "gate_message": selectors.gate_message(eval_run, rows), "cost": selectors.eval_cost(eval_run)})
    template = "evals/_outputs.html" if request.htmx and request.htmx.target == "outputs" else "evals/detail.html"
    if template == "evals/detail.html":
        context.update(_people_and_judge(eval_run, is_lead=context["is_lead"]))
        context["breakdown"] = label_results.label_results(eval_run)
    response = render(request, template, context)
    return finished_page_swap(response) if polling else response


def _people_and_judge(eval_run, *, is_lead: bool) -> dict:
    """Whose verdicts the answers carry, the judge against people, and (leads) the form that sends to review."""
    return {"verdicts": selectors.verdict_counts(eval_run), "agreement": calibration.eval_agreement(eval_run),
            "trust": calibration.judge_trust(eval_run),
            "send_form": ReviewSendForm() if is_lead and eval_run.is_completed else None}


@require_POST
@login_required
def eval_review_send(request, eval_id):
    eval_run = selectors.eval_for_user(request.user, eval_id, role=Role.LEAD)
    form = ReviewSendForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("evals:detail", eval_id=eval_run.id)
    try:
        sent = human_review.eval_review_send(eval_run=eval_run, user=request.user, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("evals:detail", eval_id=eval_run.id)
    left = f" {sent.left_out:,} more matched: send again for them." if sent.left_out else ""
    messages.success(request, f"Sent {sent.count:,} answer{'s' if sent.count != 1 else ''} of eval {eval_run.id} to "
                              f"review. People's verdicts count as the answers' verdicts as they grade.{left}")
    return redirect("review:start", run_id=sent.run.id)


@require_POST
@login_required
def eval_cancel(request, eval_id):
    eval_run = selectors.eval_for_user(request.user, eval_id, role=Role.LEAD)
    if services.eval_cancel(eval_run=eval_run):
        messages.success(request, f"Cancelled eval {eval_run.id}; its answers so far are kept.")
    return redirect("evals:detail", eval_id=eval_run.id)


@require_POST
@login_required
def eval_resume(request, eval_id):
    eval_run = selectors.eval_for_user(request.user, eval_id, role=Role.LEAD)
    try:
        services.eval_resume(eval_run=eval_run)
        messages.success(request, f"Eval {eval_run.id} queued again: it continues where it stopped.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("evals:detail", eval_id=eval_run.id)


@require_GET
@login_required
def eval_export(request, eval_id, table):
    eval_run = selectors.eval_for_user(request.user, eval_id)
    if table == "outputs":
        return _csv(f"eval-{eval_run.id}-outputs.csv", exports.outputs_rows(eval_run))
    if table == "labels":
        return _csv(f"eval-{eval_run.id}-labels.csv", exports.label_rows(label_results.label_results(eval_run)))
    return _csv(f"eval-{eval_run.id}-results.csv", exports.results_rows(eval_run))


@require_http_methods(["GET", "POST"])
@login_required
def finetune_evaluate(request, job_id):
    job = job_for_user(request.user, job_id, role=Role.LEAD)
    form = FineTuneEvalForm(request.POST or None, project=job.project)
    if request.method == "POST" and form.is_valid():
        try:
            base, tuned = services.evals_for_finetune(job=job, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Queued eval {base.id} (base model) and eval {tuned.id} (fine-tuned), "
                                      "on the same test cases.")
            return redirect("evals:detail", eval_id=tuned.id)
    return render(request, "evals/finetune.html", {"job": job, "project": job.project, "form": form})


@require_GET
@login_required
def dashboard(request, project_id):
    project = project_for_user(request.user, project_id)
    if request.htmx and request.htmx.target == "label-view":  # the per-label view, loaded after the page
        labels = selectors.label_matrix(project, selectors.matrix_columns(project))
        return render(request, "evals/_label_matrix.html", {"project": project, "labels": labels})
    grid = selectors.matrix(project)
    for row in grid["rows"]:
        row["trend"] = selectors.trend_chart(row, grid["columns"])
    is_lead = has_role(project, Role.LEAD)
    context = {"project": project, "grid": grid, "charts": selectors.project_charts(grid), "is_lead": is_lead,
               "activity": reviewer_activity(project) if is_lead else None,
               "versions": selectors.version_summaries(grid), "judges": calibration.judge_versions(project)}
    return render(request, "evals/dashboard.html", context)


@require_GET
@login_required
def dashboard_export(request, project_id, table):
    if table == "reviewers":
        project = project_for_user(request.user, project_id, role=Role.LEAD)
        return _csv(f"project-{project.id}-reviewers.csv", exports.reviewer_rows(reviewer_activity(project)))
    project = project_for_user(request.user, project_id)
    if table == "labels":
        labels = selectors.label_matrix(project, selectors.matrix_columns(project))
        return _csv(f"project-{project.id}-labels.csv", exports.label_matrix_rows(labels))
    return _csv(f"project-{project.id}-pass-rates.csv", exports.matrix_rows(selectors.matrix(project)))


def _csv(filename: str, rows) -> HttpResponse:
    buffer = io.StringIO()
    csv_export.writer(buffer).writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
