from django.contrib import admin

from .models import PromptTemplate, PromptVersion


class PromptVersionInline(admin.TabularInline):
    model = PromptVersion
    extra = 0
    can_delete = False
    fields = ["number", "style", "note", "created_by", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "created_at"]
    search_fields = ["name"]
    inlines = [PromptVersionInline]


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    """Versions are immutable: the admin shows them and changes nothing."""

    list_display = ["template", "number", "style", "created_at"]
    list_filter = ["style"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
