"""The leakage guard now treats texts that differ only in punctuation, case, spaces or Unicode form as the same:
recompute the stored hashes of training examples and test cases with that normalisation."""

import hashlib
import unicodedata

from django.db import migrations


def _hash(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text)
    return hashlib.sha256(" ".join(kept.casefold().split()).encode()).hexdigest()


def rehash(apps, schema_editor):
    for name in ("TrainingExample", "TestCase"):
        model = apps.get_model("review", name)
        for row in model.objects.only("id", "text").iterator():
            model.objects.filter(id=row.id).update(text_hash=_hash(row.text))


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial")]
    operations = [migrations.RunPython(rehash, migrations.RunPython.noop)]
