from django.urls import path

from . import views

app_name = "prompts"
urlpatterns = [
    path("projects/<int:project_id>/prompts/", views.prompt_list, name="list"),
    path("projects/<int:project_id>/prompts/new/", views.prompt_create, name="create"),
    path("prompts/<int:template_id>/", views.prompt_detail, name="detail"),
    path("prompts/<int:template_id>/edit/", views.prompt_edit, name="edit"),
    path("prompts/<int:template_id>/diff/", views.version_diff, name="diff"),
    path("prompt-versions/<int:version_id>/preview/", views.version_preview, name="preview"),
]
