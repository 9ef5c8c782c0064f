from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.accounts import api as accounts_api
from apps.datasets import api as datasets_api
from apps.projects import api as projects_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("projects/", projects_api.ProjectListApi.as_view(), name="api-projects"),
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
]
