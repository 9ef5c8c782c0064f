from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.exceptions import ApplicationError
from apps.core.params import sort_param

from . import services
from .forms import MemberAddForm, MemberRoleForm
from .models import Membership, Role
from .selectors import MEMBER_SORTS, has_role, members_of, project_for_user


@require_GET
@login_required
def member_list(request, project_id):
    project = project_for_user(request.user, project_id)
    sort = sort_param(request.GET, MEMBER_SORTS, default="user")
    return render(request, "accounts/members.html", _members_context(project, MemberAddForm(), sort=sort))


def _members_context(project, form, invite_url=None, *, sort: str = "user"):
    members = list(members_of(project, sort=sort))
    return {
        "project": project, "members": members, "form": form, "roles": Role.choices,
        "is_admin": has_role(project, Role.ADMIN), "invite_url": invite_url, "sort": sort,
        "pending_invites": [m for m in members if m.invite_pending],
    }


@never_cache  # the page may show a one-time invite link
@require_POST
@login_required
def member_add(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.ADMIN)
    form = MemberAddForm(request.POST)
    invite_url = None
    if form.is_valid():
        try:
            membership, invite_path = services.membership_add(project=project, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Added {membership.user.username} as {membership.get_role_display().lower()}.")
            if invite_path is None:
                return redirect("accounts:members", project_id=project.id)
            invite_url = request.build_absolute_uri(invite_path)
            form = MemberAddForm()
    return render(request, "accounts/members.html", _members_context(project, form, invite_url))


@never_cache  # the page shows a one-time invite link
@require_POST
@login_required
def member_invite(request, project_id, membership_id):
    """A new one-time link for a pending invite, shown once with a copy button."""
    project = project_for_user(request.user, project_id, role=Role.ADMIN)
    membership = get_object_or_404(Membership.objects.select_related("user"), id=membership_id, project=project)
    try:
        invite_path = services.invite_renew(membership=membership)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:members", project_id=project.id)
    invite_url = request.build_absolute_uri(invite_path)
    return render(request, "accounts/members.html", _members_context(project, MemberAddForm(), invite_url))


@require_POST
@login_required
def member_set_role(request, project_id, membership_id):
    project = project_for_user(request.user, project_id, role=Role.ADMIN)
    membership = get_object_or_404(Membership, id=membership_id, project=project)
    form = MemberRoleForm(request.POST)
    if form.is_valid():
        try:
            services.membership_set_role(membership=membership, role=form.cleaned_data["role"])
            messages.success(request, f"{membership.user.username} is now {membership.get_role_display().lower()}.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect("accounts:members", project_id=project.id)


@require_POST
@login_required
def member_remove(request, project_id, membership_id):
    project = project_for_user(request.user, project_id, role=Role.ADMIN)
    membership = get_object_or_404(Membership, id=membership_id, project=project)
    try:
        services.membership_remove(membership=membership)
        messages.success(request, f"Removed {membership.user.username} from {project.name}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("accounts:members", project_id=project.id)


@never_cache  # the page shows the token: no browser or proxy may keep a copy
@require_http_methods(["GET", "POST"])
@login_required
def api_token(request):
    if request.method == "POST":
        token = services.api_token_regenerate(user=request.user)
        messages.success(request, "Made a new API token; the old one no longer works.")
    else:
        token = services.api_token_get_or_create(user=request.user)
    return render(request, "accounts/token.html", {"token": token})


@method_decorator(never_cache, name="dispatch")
class InviteAcceptView(auth_views.PasswordResetConfirmView):
    """An invited person follows the one-time link and sets a password."""

    template_name = "accounts/invite.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form):
        messages.success(self.request, "Your password is set: log in.")
        return super().form_valid(form)
