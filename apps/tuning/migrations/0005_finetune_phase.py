from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tuning", "0004_model_exports"),
    ]

    operations = [
        migrations.AddField(
            model_name="finetunejob",
            name="phase",
            field=models.CharField(choices=[("queued", "Waiting for a worker"), ("loading", "Loading the model"),
                                            ("tokenising", "Tokenising the examples"), ("training", "Training"),
                                            ("saving", "Saving the adapter")],
                                   default="queued", max_length=12),
        ),
        migrations.AddField(
            model_name="finetunejob",
            name="training_started_at",
            field=models.DateTimeField(blank=True, help_text="When step 1 began, for the ETA.", null=True),
        ),
    ]
