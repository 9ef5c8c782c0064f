from django.contrib import admin

from .models import Adjudication, Grade, TestCase, TestCaseImport, TrainingExample, TrainingPoint


@admin.register(TrainingPoint)
class TrainingPointAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name"]


@admin.register(Grade)
class GradeAdmin(admin.ModelAdmin):
    list_display = ["id", "output", "reviewer", "verdict", "created_at"]
    list_filter = ["verdict"]
    raw_id_fields = ["output"]


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ["output", "lead", "verdict", "created_at"]
    raw_id_fields = ["output"]


@admin.register(TrainingExample)
class TrainingExampleAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "created_at"]
    raw_id_fields = ["record", "source_grade"]
    search_fields = ["text"]


@admin.register(TestCase)
class TestCaseAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "paraphrase_group", "created_at"]
    raw_id_fields = ["record", "source_grade"]
    search_fields = ["text"]


@admin.register(TestCaseImport)
class TestCaseImportAdmin(admin.ModelAdmin):
    list_display = ["original_name", "project", "status", "cases_imported", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["project"]
