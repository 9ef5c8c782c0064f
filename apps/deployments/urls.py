from django.urls import path

from . import views

app_name = "deployments"
urlpatterns = [
    path("projects/<int:project_id>/deployments/", views.deployment_list, name="list"),
    path("deployments/<int:deployment_id>/", views.deployment_detail, name="detail"),
    path("deployments/<int:deployment_id>/settings/", views.deployment_settings, name="settings"),
    path("deployments/<int:deployment_id>/promote/", views.promote, name="promote"),
    path("deployments/<int:deployment_id>/rollback/<int:promotion_id>/", views.rollback, name="rollback"),
    path("deployments/<int:deployment_id>/keys/", views.key_create, name="keys"),
    path("deployments/<int:deployment_id>/keys/<int:key_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("deployments/<int:deployment_id>/traces/", views.trace_list, name="traces"),
    path("deployments/<int:deployment_id>/traces/export/", views.trace_export, name="traces_export"),
    path("deployments/<int:deployment_id>/traces/<uuid:trace_id>/", views.trace_detail, name="trace"),
    path("deployments/<int:deployment_id>/traffic/", views.traffic, name="traffic"),
    path("deployments/<int:deployment_id>/traffic/export/", views.traffic_export, name="traffic_export"),
]
