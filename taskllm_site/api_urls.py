from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.accounts import api as accounts_api
from apps.datasets import api as datasets_api
from apps.deployments import api as deployments_api
from apps.deployments import watch_api as deployments_watch_api
from apps.evals import api as evals_api
from apps.llm import api as llm_api
from apps.projects import api as projects_api
from apps.prompts import api as prompts_api
from apps.review import api as review_api
from apps.runs import api as runs_api
from apps.tuning import api as tuning_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("projects/", projects_api.ProjectListApi.as_view(), name="api-projects"),
    path("audit/", accounts_api.AuditListApi.as_view(), name="api-audit"),
    path("projects/<int:project_id>/", projects_api.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", accounts_api.MemberListApi.as_view(), name="api-members"),
    path("projects/<int:project_id>/members/<int:membership_id>/", accounts_api.MemberDetailApi.as_view(),
         name="api-member"),
    path("projects/<int:project_id>/datasets/", datasets_api.DatasetListApi.as_view(), name="api-datasets"),
    path("datasets/<int:dataset_id>/", datasets_api.DatasetDetailApi.as_view(), name="api-dataset"),
    path("datasets/<int:dataset_id>/records/", datasets_api.RecordListApi.as_view(), name="api-records"),
    path("datasets/<int:dataset_id>/imports/", datasets_api.ImportListApi.as_view(), name="api-imports"),
    path("datasets/<int:dataset_id>/export/", datasets_api.DatasetExportApi.as_view(), name="api-export"),
    path("datasets/<int:dataset_id>/split/", datasets_api.DatasetSplitApi.as_view(), name="api-split"),
    path("imports/<int:import_id>/", datasets_api.ImportDetailApi.as_view(), name="api-import"),
    path("projects/<int:project_id>/models/", llm_api.ModelListApi.as_view(), name="api-models"),
    path("projects/<int:project_id>/models/folder/", llm_api.ModelsFolderApi.as_view(), name="api-models-folder"),
    path("projects/<int:project_id>/models/<int:model_id>/", llm_api.ModelDetailApi.as_view(), name="api-model"),
    path("projects/<int:project_id>/models/<int:model_id>/test/", llm_api.ModelTestApi.as_view(),
         name="api-model-test"),
    path("projects/<int:project_id>/prompts/", prompts_api.PromptListApi.as_view(), name="api-prompts"),
    path("prompts/<int:template_id>/", prompts_api.PromptDetailApi.as_view(), name="api-prompt"),
    path("prompts/<int:template_id>/versions/", prompts_api.PromptVersionListApi.as_view(),
         name="api-prompt-versions"),
    path("projects/<int:project_id>/runs/", runs_api.RunListApi.as_view(), name="api-runs"),
    path("runs/<int:run_id>/", runs_api.RunDetailApi.as_view(), name="api-run"),
    path("runs/<int:run_id>/launch/", runs_api.RunLaunchApi.as_view(), name="api-run-launch"),
    path("runs/<int:run_id>/cancel/", runs_api.RunCancelApi.as_view(), name="api-run-cancel"),
    path("runs/<int:run_id>/outputs/", runs_api.OutputListApi.as_view(), name="api-outputs"),
    path("runs/<int:run_id>/grades/", review_api.GradeListApi.as_view(), name="api-grades"),
    path("runs/<int:run_id>/review/next/", review_api.ReviewNextApi.as_view(), name="api-review-next"),
    path("projects/<int:project_id>/training-points/", review_api.PointListApi.as_view(), name="api-points"),
    path("training-points/<int:point_id>/", review_api.PointDetailApi.as_view(), name="api-point"),
    path("training-points/<int:point_id>/merge/", review_api.PointMergeApi.as_view(), name="api-point-merge"),
    path("projects/<int:project_id>/training-examples/", review_api.ExampleListApi.as_view(), name="api-examples"),
    path("projects/<int:project_id>/test-cases/", review_api.TestCaseListApi.as_view(), name="api-test-cases"),
    path("test-cases/<int:case_id>/", review_api.TestCaseDetailApi.as_view(), name="api-test-case"),
    path("projects/<int:project_id>/test-cases/import/", review_api.TestCaseImportApi.as_view(),
         name="api-test-case-import"),
    path("test-case-imports/<int:import_id>/", review_api.TestCaseImportDetailApi.as_view(),
         name="api-test-case-import-detail"),
    path("prompt-versions/<int:version_id>/preview/", prompts_api.VersionPreviewApi.as_view(),
         name="api-prompt-preview"),
    path("fine-tunes/<int:job_id>/evaluate/", evals_api.FineTuneEvaluateApi.as_view(), name="api-finetune-evaluate"),
    path("training-examples/<int:example_id>/", review_api.ExampleDetailApi.as_view(), name="api-example"),
    path("projects/<int:project_id>/fine-tunes/", tuning_api.JobListApi.as_view(), name="api-finetunes"),
    path("fine-tunes/<int:job_id>/", tuning_api.JobDetailApi.as_view(), name="api-finetune"),
    path("fine-tunes/<int:job_id>/cancel/", tuning_api.JobCancelApi.as_view(), name="api-finetune-cancel"),
    path("fine-tunes/<int:job_id>/exports/", tuning_api.ExportListApi.as_view(), name="api-model-exports"),
    path("model-exports/<int:export_id>/", tuning_api.ExportDetailApi.as_view(), name="api-model-export"),
    path("model-exports/<int:export_id>/download/", tuning_api.ExportDownloadApi.as_view(),
         name="api-model-export-download"),
    path("projects/<int:project_id>/agreement/", review_api.AgreementApi.as_view(), name="api-agreement"),
    path("projects/<int:project_id>/evals/", evals_api.EvalListApi.as_view(), name="api-evals"),
    path("evals/<int:eval_id>/", evals_api.EvalDetailApi.as_view(), name="api-eval"),
    path("evals/<int:eval_id>/cancel/", evals_api.EvalCancelApi.as_view(), name="api-eval-cancel"),
    path("evals/<int:eval_id>/review/", evals_api.EvalReviewApi.as_view(), name="api-eval-review"),
    path("projects/<int:project_id>/dashboard/", evals_api.DashboardApi.as_view(), name="api-dashboard"),
    path("projects/<int:project_id>/deployments/", deployments_api.DeploymentListApi.as_view(),
         name="api-deployments"),
    path("deployments/<int:deployment_id>/", deployments_api.DeploymentDetailApi.as_view(), name="api-deployment"),
    path("deployments/<int:deployment_id>/promote/", deployments_api.DeploymentPromoteApi.as_view(),
         name="api-deployment-promote"),
    path("deployments/<int:deployment_id>/rollback/", deployments_api.DeploymentRollbackApi.as_view(),
         name="api-deployment-rollback"),
    path("deployments/<int:deployment_id>/traces/", deployments_api.TraceListApi.as_view(),
         name="api-deployment-traces"),
    path("deployments/<int:deployment_id>/traffic/", deployments_api.TrafficApi.as_view(),
         name="api-deployment-traffic"),
    path("deployments/<int:deployment_id>/candidate-eval/", deployments_watch_api.CandidateEvalApi.as_view(),
         name="api-deployment-candidate-eval"),
]
