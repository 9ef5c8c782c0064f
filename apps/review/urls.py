from django.urls import path

from . import views

app_name = "review"
urlpatterns = [
    path("runs/<int:run_id>/review/", views.review_start, name="start"),
    path("runs/<int:run_id>/review/undo/", views.review_undo, name="undo"),
    path("runs/<int:run_id>/review/<int:output_id>/", views.review_output, name="output"),
    path("runs/<int:run_id>/review/<int:output_id>/grade/", views.review_grade, name="grade"),
    path("runs/<int:run_id>/review/<int:output_id>/lease/", views.review_lease, name="lease"),
    path("projects/<int:project_id>/points/", views.point_list, name="points"),
    path("points/<int:point_id>/", views.point_detail, name="point"),
    path("points/<int:point_id>/edit/", views.point_edit, name="point_edit"),
    path("points/<int:point_id>/merge/", views.point_merge, name="point_merge"),
    path("projects/<int:project_id>/training-examples/", views.example_list, name="examples"),
    path("training-examples/<int:example_id>/edit/", views.example_edit, name="example_edit"),
    path("training-examples/<int:example_id>/delete/", views.example_delete, name="example_delete"),
    path("test-cases/<int:case_id>/edit/", views.test_case_edit, name="test_case_edit"),
    path("test-cases/<int:case_id>/delete/", views.test_case_delete, name="test_case_delete"),
    path("test-cases/<int:case_id>/paraphrases/", views.paraphrases, name="paraphrases"),
    path("paraphrase-proposals/<int:proposal_id>/accept/", views.proposal_accept, name="proposal_accept"),
    path("paraphrase-proposals/<int:proposal_id>/reject/", views.proposal_reject, name="proposal_reject"),
    path("projects/<int:project_id>/training-examples/export/", views.example_export, name="examples_export"),
    path("projects/<int:project_id>/test-cases/", views.test_case_list, name="test_cases"),
    path("projects/<int:project_id>/test-cases/import/", views.test_case_import, name="test_case_import"),
    path("datasets/<int:dataset_id>/records/test-cases/", views.records_to_test_cases, name="records_to_test_cases"),
    path("test-case-imports/<int:import_id>/", views.test_case_import_detail, name="test_case_import_detail"),
    path("test-case-imports/<int:import_id>/cancel/", views.test_case_import_cancel, name="test_case_import_cancel"),
    path("projects/<int:project_id>/agreement/", views.agreement, name="agreement"),
    path("projects/<int:project_id>/adjudicate/<int:output_id>/", views.adjudicate, name="adjudicate"),
]
