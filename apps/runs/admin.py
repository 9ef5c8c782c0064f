from django.contrib import admin

from .models import Output, Run


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "prompt_version", "model", "status", "total", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["dataset", "prompt_version", "model"]
    exclude = ["record_ids"]


@admin.register(Output)
class OutputAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "record", "repeat", "status", "latency_ms"]
    list_filter = ["status"]
    raw_id_fields = ["run", "record"]
    show_full_result_count = False
