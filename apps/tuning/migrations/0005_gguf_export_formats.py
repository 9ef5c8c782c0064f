from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tuning', '0004_model_exports'),
    ]

    operations = [
        migrations.AlterField(
            model_name='modelexport',
            name='format',
            field=models.CharField(choices=[('adapter', 'LoRA adapter (PEFT)'), ('merged', 'Merged weights (Hugging Face folder)'), ('gguf_f16', 'GGUF f16 (llama.cpp, Ollama)'), ('gguf_q8_0', 'GGUF Q8_0 (llama.cpp, Ollama)')], max_length=10),
        ),
    ]
