"""Write the bundled model's weights as a plain Hugging Face model folder, for servers that need one.

    python manage.py bundled_model_folder var/smollm2-folder
    python -m transformers.cli.transformers serve var/smollm2-folder --host 127.0.0.1 --port 8090 --device cpu

`transformers serve` cannot load the bundled GGUF directly (the config it reads from a GGUF has no
`architectures`), but it loads a folder made from the same weights; the answers are identical.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


def bundled_model_folder(destination: Path) -> Path:
    """Make `destination` a plain model folder of the bundled weights (nothing to do when it already is one)."""
    from apps.llm.bundled import plain_folder

    return plain_folder(destination)


class Command(BaseCommand):
    help = "Write the bundled model (SmolLM2-135M-Instruct) as a plain Hugging Face model folder."

    def add_arguments(self, parser):
        parser.add_argument("destination", help="the folder to write (created if missing)")

    def handle(self, *args, destination, **options):
        from apps.llm.client import ModelCallError

        try:
            path = bundled_model_folder(Path(destination).resolve())
        except ModelCallError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Wrote the bundled model to {path}. Serve it with:\n"
                          f"  python -m transformers.cli.transformers serve {path} --host 127.0.0.1 --port 8090 "
                          "--device cpu")
