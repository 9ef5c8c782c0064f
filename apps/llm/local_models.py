"""Local models: the bundled one, and open models people put in the models folder (TASKLLM_MODELS_DIR).

The folder holds Hugging Face model folders (config.json, a tokenizer, safetensors weights) and .gguf files. Each
is described without loading its weights: the parameter count comes from the tensor shapes in the safetensors
headers (a JSON object at the start of each file) or in the GGUF's tensor index. A model transformers could not
load, or one with no chat template, is listed with the reasons and cannot be registered. Nothing is downloaded.

`load_local(model_row)` is the one loader of local weights, for the provider, the trainer and the exports: the
bundled GGUF when the row names no path, else the folder or file it names, always offline.
"""

import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings

from .client import ModelCallError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "seq_length", "max_seq_len", "n_ctx")
HEADER_LIMIT = 100 * 1024 * 1024  # a safetensors header larger than this is not one


@dataclass
class LocalModelInfo:
    """What the models folder holds at `path` (relative to it), and why it cannot be registered, if it cannot."""

    path: str
    kind: str  # "folder" or "gguf"
    architecture: str = ""
    model_type: str = ""
    parameters: int = 0
    context_length: int | None = None
    chat_template: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems

    @property
    def bytes_fp32(self) -> int:
        return self.parameters * 4

    @property
    def bytes_bf16(self) -> int:
        return self.parameters * 2

    def as_dict(self) -> dict:
        return {**asdict(self), "usable": self.usable, "bytes_fp32": self.bytes_fp32, "bytes_bf16": self.bytes_bf16}


def models_dir() -> Path:
    return Path(settings.TASKLLM_MODELS_DIR)


def local_models() -> list[LocalModelInfo]:
    """Every model folder and .gguf file directly inside the models folder, by path."""
    root = models_dir()
    if not root.is_dir():
        return []
    entries = [p for p in sorted(root.iterdir()) if not p.name.startswith(".")]
    return [describe(p.name) for p in entries if p.is_dir() or p.suffix == ".gguf"]


def resolve(path: str) -> Path:
    """The absolute location of `path` inside the models folder; refuses anything that points outside it."""
    root = models_dir().resolve()
    target = (root / path).resolve()
    if not path or target == root or root not in target.parents:
        raise ModelCallError(f"{path!r} is not inside the models folder.")
    return target


def describe(path: str) -> LocalModelInfo:
    """Describe the model at `path` (relative to the models folder) without loading its weights."""
    target = resolve(path)
    if target.is_file() and target.suffix == ".gguf":
        return _describe_gguf(path, target)
    info = LocalModelInfo(path=path, kind="folder")
    if not target.is_dir():
        info.problems.append("There is no such folder or .gguf file in the models folder.")
        return info
    _read_config(info, target)
    _read_tokenizer(info, target)
    _read_weights(info, target)
    return info


def _read_config(info: LocalModelInfo, folder: Path) -> None:
    config_path = folder / "config.json"
    if not config_path.is_file():
        info.problems.append("No config.json: transformers cannot tell what model this is.")
        return
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        info.problems.append(f"config.json is not valid JSON: {exc}")
        return
    from transformers import CONFIG_MAPPING  # configurations only: no torch

    info.model_type = str(config.get("model_type", ""))
    info.architecture = (config.get("architectures") or [info.model_type])[0]
    if info.model_type not in CONFIG_MAPPING:
        info.problems.append(f"transformers does not know the model type {info.model_type!r}.")
    text_config = config.get("text_config") or {}
    info.context_length = next((int(c[key]) for c in (config, text_config) for key in CONTEXT_KEYS
                                if isinstance(c.get(key), int)), None)


def _read_tokenizer(info: LocalModelInfo, folder: Path) -> None:
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        info.problems.append("No tokenizer (tokenizer.json, tokenizer.model or tokenizer_config.json).")
        return
    info.chat_template = _has_chat_template(folder)
    if not info.chat_template:
        info.problems.append("The tokenizer has no chat template: TaskLLM sends chat messages.")


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        return bool(json.loads((folder / "tokenizer_config.json").read_text()).get("chat_template"))
    except (OSError, ValueError):
        return False


def _read_weights(info: LocalModelInfo, folder: Path) -> None:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        info.problems.append("No .safetensors weights (other weight formats are not read).")
        return
    try:
        info.parameters = sum(safetensors_parameters(path) for path in files)
    except (OSError, ValueError) as exc:
        info.problems.append(f"Unreadable safetensors file: {exc}")


def safetensors_parameters(path: Path) -> int:
    """How many numbers the file's tensors hold, from its header (8 bytes of length, then JSON) alone."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > HEADER_LIMIT:
            raise ValueError(f"{path.name} has no safetensors header.")
        header = json.loads(handle.read(length))
    total = 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for size in tensor["shape"]:
            count *= int(size)
        total += count
    return total


def _describe_gguf(path: str, target: Path) -> LocalModelInfo:
    from gguf import GGUFReader  # memory-maps the file: the tensors' index is read, not their data

    info = LocalModelInfo(path=path, kind="gguf")
    try:
        reader = GGUFReader(str(target))
    except Exception as exc:  # noqa: BLE001 - a damaged file is listed with its reason
        info.problems.append(f"Not a readable GGUF file: {exc}")
        return info
    info.model_type = info.architecture = _gguf_value(reader, "general.architecture") or ""
    context = _gguf_value(reader, f"{info.architecture}.context_length")
    info.context_length = int(context) if context is not None else None
    info.chat_template = bool(_gguf_value(reader, "tokenizer.chat_template"))
    info.parameters = sum(int(t.n_elements) for t in reader.tensors)
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    if info.architecture not in GGUF_CONFIG_MAPPING:
        info.problems.append(f"transformers cannot read GGUF files of the {info.architecture!r} architecture.")
    if not info.chat_template:
        info.problems.append("The file has no chat template: TaskLLM sends chat messages.")
    return info


def _gguf_value(reader, key: str):
    found = reader.fields.get(key)
    if found is None:
        return None
    value = found.contents()
    return value


# --- loading ------------------------------------------------------------------------------------

def load_local(model_row, *, dtype: str = "float32", quantization_config=None):
    """A fresh (tokenizer, model) of a local model row's base weights; never touches the network.

    The bundled GGUF when the row names no `local_path` (a fine-tune carries its base's path), else the folder
    or .gguf file it names in the models folder. `dtype` is a torch dtype's name; `quantization_config` (4-bit
    bitsandbytes, for training on CUDA) applies to folders only.
    """
    from .bundled import load_bundled, offline_transformers

    path = getattr(model_row, "local_path", "")
    if not path:
        return load_bundled(dtype=dtype)
    torch, auto_model, auto_tokenizer = offline_transformers()
    target = resolve(path)
    if not target.exists():
        raise ModelCallError(f"The local model {path} is no longer in the models folder ({models_dir()}).")
    options = {"dtype": getattr(torch, dtype), "local_files_only": True}
    if target.is_file():
        tokenizer = auto_tokenizer.from_pretrained(str(target.parent), gguf_file=target.name)
        return tokenizer, auto_model.from_pretrained(str(target.parent), gguf_file=target.name, **options)
    if quantization_config is not None:
        options["quantization_config"] = quantization_config
    tokenizer = auto_tokenizer.from_pretrained(str(target), local_files_only=True)
    return tokenizer, auto_model.from_pretrained(str(target), **options)
