from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Set-up and demo commands (`taskllm_setup`, `demo_loop`) and the demo data: the top floor, as they touch
    every app below."""

    name = "apps.demo"
