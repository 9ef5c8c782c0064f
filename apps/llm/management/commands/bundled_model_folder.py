"""Write the bundled model's weights as a plain Hugging Face model folder, for servers that need one.

    python manage.py bundled_model_folder var/smollm2-folder
    python -m transformers.cli.transformers serve var/smollm2-folder --host 127.0.0.1 --port 8090 --device cpu

`transformers serve` cannot load the bundled GGUF directly (the config it reads from a GGUF has no
`architectures`), but it loads a folder made from the same weights; the answers are identical.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

MARKER = "taskllm-bundled.txt"


def bundled_model_folder(destination: Path) -> Path:
    """Make `destination` a plain model folder of the bundled weights (fp32 safetensors, config, tokenizer).

    Does nothing when the folder was already made from the same GGUF file, so tests and set-up scripts can
    call it every time.
    """
    from apps.llm.bundled import load_bundled, weights_location

    folder, name = weights_location()
    source = str(Path(folder) / name)
    marker = destination / MARKER
    if marker.exists() and marker.read_text() == source:
        return destination
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer, loaded = load_bundled()
    # A model loaded from a GGUF cannot be saved as such: its weights (dequantized to fp32) go into a plain
    # model of the same config, which also names its architecture (the GGUF's config does not).
    config = loaded.config
    config.architectures = [type(loaded).__name__]
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    destination.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(destination)
    tokenizer.save_pretrained(destination)
    marker.write_text(source)
    return destination


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
