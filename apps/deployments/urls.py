from django.urls import path

from . import views, watch_views

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
    path("deployments/<int:deployment_id>/schedules/", watch_views.schedule_list, name="schedules"),
    path("deployments/<int:deployment_id>/schedules/<int:schedule_id>/delete/", watch_views.schedule_delete,
         name="schedule_delete"),
    path("projects/<int:project_id>/alerts/", watch_views.alert_list, name="alerts"),
    path("projects/<int:project_id>/alerts/<int:alert_id>/<str:action>/", watch_views.alert_handle,
         name="alert_handle"),
    path("projects/<int:project_id>/alert-rules/<int:rule_id>/delete/", watch_views.rule_delete, name="rule_delete"),
    path("projects/<int:project_id>/webhooks/", watch_views.webhook_list, name="webhooks"),
    path("projects/<int:project_id>/webhooks/<int:webhook_id>/delete/", watch_views.webhook_delete,
         name="webhook_delete"),
    path("projects/<int:project_id>/webhook-deliveries/<int:delivery_id>/redeliver/", watch_views.delivery_redeliver,
         name="redeliver"),
]
