from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Role
from apps.accounts.selectors import has_role, project_for_user
from apps.core.exceptions import ApplicationError
from apps.core.params import sort_param

from . import services
from .forms import ModelForm
from .local_models import models_dir
from .models import Provider
from .selectors import (
    MODEL_SORTS,
    model_for_user,
    models_folder_listing,
    models_for_project,
    probe_request,
    project_for_site_admin,
)


def _model_in_project(request, project, model_id, role):
    model = model_for_user(request.user, model_id, project=project, role=role)
    if model.project_id not in (None, project.id):
        raise Http404("No such model.")
    return model


@require_GET
@login_required
def model_list(request, project_id):
    project = project_for_user(request.user, project_id)
    sort = sort_param(request.GET, MODEL_SORTS, default="name")
    return render(request, "llm/list.html", {
        "project": project, "models": models_for_project(project, sort=sort), "is_lead": has_role(project, Role.LEAD),
        "sort": sort,
    })


@require_http_methods(["GET", "POST"])
@login_required
def model_create(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    form = ModelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        shared = request.user.is_superuser and request.POST.get("shared") == "on"
        try:
            model = services.model_create(project=None if shared else project, user=request.user,
                                          **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Added {model.name}. Test its connection before a run.")
            return redirect("llm:list", project_id=project.id)
    return render(request, "llm/form.html", {"project": project, "form": form, "model": None})


@require_http_methods(["GET", "POST"])
@login_required
def model_edit(request, project_id, model_id):
    project = project_for_user(request.user, project_id)
    model = _model_in_project(request, project, model_id, Role.LEAD)
    form = ModelForm(request.POST or None, initial=ModelForm.initial_for(model))
    if request.method == "POST" and form.is_valid():
        try:
            services.model_update(model=model, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Saved {model.name}.")
            return redirect("llm:list", project_id=project.id)
    return render(request, "llm/form.html", {"project": project, "form": form, "model": model})


@require_POST
@login_required
def model_test(request, project_id, model_id):
    # Testing changes nothing: a lead may test any model the project can use, shared ones included (only site
    # admins may change those), so the button never answers with a 403 inside the models table.
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    model = _model_in_project(request, project, model_id, Role.REVIEWER)
    context = {"model": model, "project": project}
    if model.provider == Provider.LOCAL:
        context["result"] = services.model_test_connection(model=model)
    else:
        messages_, schema = probe_request(project)
        context["report"] = services.model_probe(model=model, messages=messages_, schema=schema)
    return render(request, "llm/_test_result.html", context)


@require_POST
@login_required
def model_use_method(request, project_id, model_id):
    project = project_for_user(request.user, project_id)
    model = _model_in_project(request, project, model_id, Role.LEAD)
    try:
        services.model_structured_output_set(model=model, method=request.POST.get("method", ""))
    except ApplicationError as exc:
        return HttpResponse(f'<div class="msg error">{escape(exc.message)}</div>')
    return HttpResponse(f'<div class="msg success">Saved: {escape(model.name)} now uses '
                        f"{escape(model.get_structured_output_display())}.</div>")


@require_GET
@login_required
def model_server_ids(request, project_id, model_id):
    project = project_for_user(request.user, project_id)
    model = _model_in_project(request, project, model_id, Role.LEAD)
    try:
        ids, error = services.model_server_ids(model=model), ""
    except ApplicationError as exc:
        ids, error = [], exc.message
    return render(request, "llm/_server_ids.html", {"ids": ids, "error": error})


@require_POST
@login_required
def server_ids(request, project_id):
    """The pick list on the Add-model form: the ids listed by the server whose base URL (and key) were typed in."""
    project_for_user(request.user, project_id, role=Role.LEAD)
    try:
        ids, error = services.server_ids_at(base_url=request.POST.get("base_url", "").strip(),
                                            api_key=request.POST.get("api_key", "")), ""
    except ApplicationError as exc:
        ids, error = [], exc.message
    return render(request, "llm/_server_ids.html", {"ids": ids, "error": error})


@require_POST
@login_required
def model_delete(request, project_id, model_id):
    project = project_for_user(request.user, project_id)
    model = _model_in_project(request, project, model_id, Role.LEAD)
    try:
        services.model_delete(model=model)
        messages.success(request, f"Deleted {model.name}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("llm:list", project_id=project.id)


@require_GET
@login_required
def models_folder(request, project_id):
    """Site admins: what is in the models folder, and a button to register each usable model."""
    project = project_for_site_admin(request.user, project_id)
    return render(request, "llm/folder.html", {"project": project, "entries": models_folder_listing(),
                                               "folder": models_dir()})


@require_POST
@login_required
def models_folder_register(request, project_id):
    project = project_for_site_admin(request.user, project_id)
    try:
        model = services.local_model_register(path=request.POST.get("path", ""), user=request.user,
                                              name=request.POST.get("name", ""))
    except ApplicationError as exc:
        messages.error(request, " ".join([exc.message, *exc.problems]))
        return redirect("llm:folder", project_id=project.id)
    messages.success(request, f"Registered {model.name}: every project can use it now.")
    return redirect("llm:list", project_id=project.id)
