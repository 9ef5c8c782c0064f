from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("llm", "0004_bound_max_concurrency"),
    ]

    operations = [
        migrations.AddField(
            model_name="model",
            name="local_path",
            field=models.CharField(
                blank=True, max_length=500,
                help_text="A local model's folder or .gguf file, relative to TASKLLM_MODELS_DIR (empty: the bundled "
                          "model)."),
        ),
        migrations.AlterField(
            model_name="model",
            name="provider",
            field=models.CharField(
                choices=[("openai", "OpenAI-compatible API"),
                         ("local", "Local model (the bundled SmolLM2-135M-Instruct, or one from the models folder)")],
                default="openai", max_length=10),
        ),
    ]
