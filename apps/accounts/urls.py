from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("accounts/token/", views.api_token, name="token"),
    path("accounts/invite/<uidb64>/<token>/", views.InviteAcceptView.as_view(), name="invite"),
    path("projects/<int:project_id>/members/", views.member_list, name="members"),
    path("projects/<int:project_id>/members/add/", views.member_add, name="member_add"),
    path("projects/<int:project_id>/members/<int:membership_id>/role/", views.member_set_role, name="member_role"),
    path("projects/<int:project_id>/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("projects/<int:project_id>/members/<int:membership_id>/invite/", views.member_invite, name="member_invite"),
]
