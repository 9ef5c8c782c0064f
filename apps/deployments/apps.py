from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.deployments"

    def ready(self) -> None:
        from . import trace_buffer

        trace_buffer.install_exit_flush()
