import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, project_for_user
from apps.core.exceptions import ApplicationError
from apps.core.params import int_param, search_param

from . import selectors, services
from .forms import DEFAULT_SYSTEM, PromptCreateForm, PromptVersionForm
from .rendering import render_messages, schema_for


@require_GET
@login_required
def prompt_list(request, project_id):
    project = project_for_user(request.user, project_id)
    return render(request, "prompts/list.html", {
        "project": project, "prompts": selectors.prompts_of(project), "is_lead": has_role(project, Role.LEAD),
    })


@require_http_methods(["GET", "POST"])
@login_required
def prompt_create(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    form = PromptCreateForm(request.POST or None, project=project, initial={"system": DEFAULT_SYSTEM})
    if request.method == "POST" and form.is_valid():
        try:
            template = services.prompt_create(project=project, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Created {template.name} v1.")
            return redirect("prompts:detail", template_id=template.id)
    return render(request, "prompts/form.html", {"project": project, "form": form, "template": None})


@require_GET
@login_required
def prompt_detail(request, template_id):
    template = selectors.prompt_for_user(request.user, template_id)
    project = template.project
    versions = list(template.versions.select_related("created_by"))
    return render(request, "prompts/detail.html", {
        "project": project, "template": template, "versions": versions, "latest": versions[0] if versions else None,
        "is_lead": has_role(project, Role.LEAD),
    })


@require_http_methods(["GET", "POST"])
@login_required
def prompt_edit(request, template_id):
    """Editing saves a new version; the versions before it stay as they were."""
    template = selectors.prompt_for_user(request.user, template_id, role=Role.LEAD)
    latest = selectors.latest_version(template)
    form = PromptVersionForm(request.POST or None, project=template.project,
                             initial=PromptVersionForm.initial_for(latest) if latest else {})
    if request.method == "POST" and form.is_valid():
        try:
            version = services.prompt_version_create(template=template, user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Saved {template.name} v{version.number}.")
            return redirect("prompts:detail", template_id=template.id)
    return render(request, "prompts/form.html", {"project": template.project, "form": form, "template": template})


@require_GET
@login_required
def version_preview(request, version_id):
    """The exact messages a record would be sent with, and the answer schema."""
    version = selectors.version_for_user(request.user, version_id)
    project = version.template.project
    record = selectors.preview_record(project, int_param(request.GET, "record"))
    text = record.text if record else "(an example record's text)"
    find = search_param(request.GET, "find")
    return render(request, "prompts/preview.html", {
        "project": project, "version": version, "record": record, "find": find,
        "prompt_messages": render_messages(project, version, text),
        "schema": json.dumps(schema_for(project, version), indent=2, ensure_ascii=False),
        "matches": selectors.record_matches(project, find), "is_lead": has_role(project, Role.LEAD),
    })


@require_GET
@login_required
def version_diff(request, template_id):
    template = selectors.prompt_for_user(request.user, template_id)
    versions = template.versions.all()
    newest = versions.first()
    new = get_object_or_404(versions, number=int_param(request.GET, "new", newest.number if newest else 0))
    old = get_object_or_404(versions, number=int_param(request.GET, "old", max(new.number - 1, 1)))
    return render(request, "prompts/diff.html", {
        "project": template.project, "template": template, "old": old, "new": new, "versions": versions,
        "lines": selectors.version_diff(old, new), "word_lines": selectors.version_word_diff(old, new),
    })
