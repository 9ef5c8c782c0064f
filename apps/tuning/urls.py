from django.urls import path

from . import views

app_name = "tuning"
urlpatterns = [
    path("projects/<int:project_id>/fine-tunes/", views.job_list, name="list"),
    path("projects/<int:project_id>/fine-tunes/new/", views.job_launch, name="launch"),
    path("fine-tunes/<int:job_id>/", views.job_detail, name="detail"),
    path("fine-tunes/<int:job_id>/cancel/", views.job_cancel, name="cancel"),
    path("fine-tunes/<int:job_id>/training-file/", views.training_file, name="training_file"),
    path("fine-tunes/<int:job_id>/exports/", views.export_create, name="export_create"),
    path("model-exports/<int:export_id>/download/", views.export_download, name="export_download"),
]
