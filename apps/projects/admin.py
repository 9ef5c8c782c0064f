from django.contrib import admin

from .models import Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "task_kind", "created_by", "created_at"]
    list_filter = ["task_kind"]
    search_fields = ["name"]
