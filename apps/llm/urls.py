from django.urls import path

from . import views

app_name = "llm"
urlpatterns = [
    path("projects/<int:project_id>/models/", views.model_list, name="list"),
    path("projects/<int:project_id>/models/new/", views.model_create, name="create"),
    path("projects/<int:project_id>/models/folder/", views.models_folder, name="folder"),
    path("projects/<int:project_id>/models/folder/register/", views.models_folder_register, name="folder_register"),
    path("projects/<int:project_id>/models/server-models/", views.server_ids, name="server_ids_at"),
    path("projects/<int:project_id>/models/<int:model_id>/edit/", views.model_edit, name="edit"),
    path("projects/<int:project_id>/models/<int:model_id>/test/", views.model_test, name="test"),
    path("projects/<int:project_id>/models/<int:model_id>/delete/", views.model_delete, name="delete"),
    path("projects/<int:project_id>/models/<int:model_id>/method/", views.model_use_method, name="use_method"),
    path("projects/<int:project_id>/models/<int:model_id>/server-models/", views.model_server_ids,
         name="server_ids"),
]
