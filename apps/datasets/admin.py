from django.contrib import admin

from .models import Dataset, DatasetImport, Record


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "created_by", "created_at"]
    list_filter = ["project"]
    search_fields = ["name"]


@admin.register(Record)
class RecordAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "position", "label", "split"]
    list_filter = ["split"]
    search_fields = ["text"]
    raw_id_fields = ["dataset"]
    show_full_result_count = False


@admin.register(DatasetImport)
class DatasetImportAdmin(admin.ModelAdmin):
    list_display = ["original_name", "dataset", "format", "status", "records_imported", "created_at"]
    list_filter = ["status", "format"]
    raw_id_fields = ["dataset"]
