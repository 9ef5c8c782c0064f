from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Role
from apps.accounts.selectors import can_create_projects, project_for_user, projects_for_user
from apps.core.exceptions import ApplicationError

from . import services
from .forms import ProjectForm


@require_GET
@login_required
def project_list(request):
    projects = projects_for_user(request.user).order_by("name")
    return render(request, "projects/list.html", {
        "projects": projects, "can_create": can_create_projects(request.user),
    })


@require_http_methods(["GET", "POST"])
@login_required
def project_create(request):
    if not can_create_projects(request.user):
        raise PermissionDenied("Only site admins can create projects (and leads, where the site allows it).")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(user=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Created {project.name}. Add a dataset to start.")
            return redirect("projects:detail", project_id=project.id)
    return render(request, "projects/form.html", {"form": form, "project": None})


@require_GET
@login_required
def project_detail(request, project_id):
    project = project_for_user(request.user, project_id)
    return render(request, "projects/detail.html", {"project": project})


@require_http_methods(["GET", "POST"])
@login_required
def project_edit(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.LEAD)
    form = ProjectForm(request.POST or None, initial=ProjectForm.initial_for(project))
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(project=project, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Saved the project.")
            return redirect("projects:detail", project_id=project.id)
    return render(request, "projects/form.html", {"form": form, "project": project})


@require_POST
@login_required
def project_delete(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.ADMIN)
    name = project.name
    services.project_delete(project=project)
    messages.success(request, f"Deleted {name}.")
    return redirect("projects:list")
