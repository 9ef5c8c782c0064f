from django.contrib import admin

from .models import Model


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "model_id", "project", "parent", "created_at"]
    list_filter = ["provider"]
    search_fields = ["name", "model_id"]
    # The key is write-only here too: it can be replaced, never read back.
    exclude = ["api_key"]
