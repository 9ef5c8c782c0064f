from django.urls import path

from . import views

app_name = "datasets"
urlpatterns = [
    path("projects/<int:project_id>/datasets/new/", views.dataset_create, name="create"),
    path("datasets/<int:dataset_id>/", views.dataset_detail, name="detail"),
    path("datasets/<int:dataset_id>/import/", views.dataset_import, name="import"),
    path("datasets/<int:dataset_id>/export/", views.dataset_export, name="export"),
    path("datasets/<int:dataset_id>/split/", views.dataset_split, name="split"),
    path("datasets/<int:dataset_id>/delete/", views.dataset_delete, name="delete"),
    path("datasets/<int:dataset_id>/records/delete/", views.records_delete, name="records_delete"),
    path("datasets/<int:dataset_id>/records/move/", views.records_move, name="records_move"),
    path("imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:import_id>/cancel/", views.import_cancel, name="import_cancel"),
]
