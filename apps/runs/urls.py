from django.urls import path

from . import views

app_name = "runs"
urlpatterns = [
    path("projects/<int:project_id>/runs/", views.run_list, name="list"),
    path("projects/<int:project_id>/runs/new/", views.run_create, name="create"),
    path("runs/<int:run_id>/", views.run_detail, name="detail"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="cancel"),
    path("runs/<int:run_id>/resume/", views.run_resume, name="resume"),
    path("runs/<int:run_id>/outputs.csv", views.run_export, name="export"),
    path("outputs/<int:output_id>/", views.output_detail, name="output"),
]
