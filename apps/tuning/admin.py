from django.contrib import admin

from .models import FineTuneJob


@admin.register(FineTuneJob)
class FineTuneJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "base_model", "backend", "status", "example_count", "created_at"]
    list_filter = ["status", "backend"]
    readonly_fields = ["training_file_sha256"]
