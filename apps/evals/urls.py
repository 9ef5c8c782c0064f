from django.urls import path, re_path

from . import views

app_name = "evals"
urlpatterns = [
    path("projects/<int:project_id>/evals/", views.eval_list, name="list"),
    path("projects/<int:project_id>/evals/new/", views.eval_create, name="create"),
    path("evals/<int:eval_id>/", views.eval_detail, name="detail"),
    path("evals/<int:eval_id>/cancel/", views.eval_cancel, name="cancel"),
    path("evals/<int:eval_id>/resume/", views.eval_resume, name="resume"),
    path("evals/<int:eval_id>/review/", views.eval_review_send, name="review_send"),
    re_path(r"^evals/(?P<eval_id>[0-9]+)/(?P<table>results|outputs|labels)\.csv$", views.eval_export, name="export"),
    path("fine-tunes/<int:job_id>/evaluate/", views.finetune_evaluate, name="finetune"),
    path("projects/<int:project_id>/dashboard/", views.dashboard, name="dashboard"),
    re_path(r"^projects/(?P<project_id>[0-9]+)/dashboard/(?P<table>pass-rates|labels|reviewers)\.csv$",
            views.dashboard_export, name="dashboard_export"),
]
