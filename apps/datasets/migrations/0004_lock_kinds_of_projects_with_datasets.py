from django.db import migrations


def lock_kinds(apps, schema_editor):
    """Projects that already have datasets keep their task kind (projects.kind_locked, set by this app from now on)."""
    Project = apps.get_model("projects", "Project")
    Dataset = apps.get_model("datasets", "Dataset")
    Project.objects.filter(id__in=Dataset.objects.values("project_id")).update(kind_locked=True)


class Migration(migrations.Migration):

    dependencies = [
        ("datasets", "0003_text_length_limits"),
        ("projects", "0005_kind_locked"),
    ]

    operations = [
        migrations.RunPython(lock_kinds, migrations.RunPython.noop),
    ]
