from django.contrib import admin

from .models import EvalRun, PointResult


@admin.register(EvalRun)
class EvalRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "model", "prompt_version", "status", "total", "gate_passed", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["baseline"]


@admin.register(PointResult)
class PointResultAdmin(admin.ModelAdmin):
    list_display = ["eval_run", "point", "pass_rate", "consistency", "latency_p50_ms", "verdict"]
