"""LoRA fine-tuning of a local model (the bundled one, or one from the models folder) with transformers + peft:
CUDA when there is one, else the CPU.

The loss counts only the answer's tokens: the prompt is context, not something to learn. What the hardware
allows is decided by two pure functions, `load_options` (dtype, 4-bit base) and `lora_target_modules`, so the
choices can be checked without a GPU. On the CPU training runs in fp32 exactly as it always has.
"""

import importlib.util
import itertools
import json
import random
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from apps.llm.local_models import load_local

LORA_TARGETS = ("all-linear", "attention", "attention-mlp")
# The attention and MLP projections of each architecture's decoder layers (names in transformers' modeling code).
LLAMA_LIKE = {"attention": ["q_proj", "k_proj", "v_proj", "o_proj"], "mlp": ["gate_proj", "up_proj", "down_proj"]}
LORA_MODULES = {
    "llama": LLAMA_LIKE, "mistral": LLAMA_LIKE, "qwen2": LLAMA_LIKE, "qwen3": LLAMA_LIKE,
    "gemma": LLAMA_LIKE, "gemma2": LLAMA_LIKE, "gemma3_text": LLAMA_LIKE,
    "phi": {"attention": ["q_proj", "k_proj", "v_proj", "dense"], "mlp": ["fc1", "fc2"]},
    "phi3": {"attention": ["qkv_proj", "o_proj"], "mlp": ["gate_up_proj", "down_proj"]},
}


@dataclass
class Hyperparameters:
    epochs: int = 3
    learning_rate: float = 2e-4
    batch_size: int = 4
    lora_r: int = 16
    lora_alpha: int = 32
    max_seq_length: int = 2048
    gradient_accumulation: int = 1
    gradient_checkpointing: bool = False
    load_in_4bit: bool = False
    lora_targets: str = "all-linear"


@dataclass(frozen=True)
class Device:
    """Where training runs: "cuda" or "cpu", and whether that GPU computes in bfloat16."""

    kind: str = "cpu"
    bf16: bool = False


@dataclass
class LoadOptions:
    device: str
    dtype: str  # a torch dtype's name
    load_in_4bit: bool
    notes: list[str] = field(default_factory=list)  # what was asked for and not done, and why


class Stopped(Exception):
    """Training was cancelled between two steps."""


def current_device() -> Device:
    import torch

    if torch.cuda.is_available():
        return Device("cuda", bf16=torch.cuda.is_bf16_supported())
    return Device("cpu")


def bitsandbytes_installed() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def load_options(*, device: Device, hp: Hyperparameters, bitsandbytes: bool, from_gguf: bool) -> LoadOptions:
    """How to load the base for training on `device`: bf16 on a GPU that has it (fp32 otherwise: fp16 without a
    loss scaler is unstable), and a 4-bit base (QLoRA) only when asked, on CUDA, with bitsandbytes installed, for
    a model folder (a GGUF is dequantized on loading)."""
    if device.kind != "cuda":
        notes = ["A 4-bit base needs a CUDA GPU: trained in fp32 on the CPU."] if hp.load_in_4bit else []
        return LoadOptions("cpu", "float32", False, notes)
    options = LoadOptions("cuda", "bfloat16" if device.bf16 else "float32", False)
    if hp.load_in_4bit and not bitsandbytes:
        options.notes.append("A 4-bit base needs the bitsandbytes package, which is not installed.")
    elif hp.load_in_4bit and from_gguf:
        options.notes.append("A GGUF model cannot be loaded in 4 bits by bitsandbytes: trained unquantized.")
    else:
        options.load_in_4bit = hp.load_in_4bit
    return options


def lora_target_modules(model_type: str, targets: str) -> str | list[str]:
    """peft's target_modules: every linear layer, or the attention (and MLP) projections of a known architecture."""
    if targets == "all-linear" or model_type not in LORA_MODULES:
        return "all-linear"
    modules = LORA_MODULES[model_type]
    return modules["attention"] + (modules["mlp"] if targets == "attention-mlp" else [])


def _quantization_config(options: LoadOptions):
    if not options.load_in_4bit:
        return None
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=getattr(torch, options.dtype if options.dtype != "float32"
                                                             else "float16"))


def _load_trainable(base, hp: Hyperparameters, on_note: Callable[[str], None]):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    # Noise for a user's terminal: peft asks transformers a question transformers 5 renamed, and looks for a
    # config.json the GGUF package does not have (the vocabulary is indeed unchanged).
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message="Could not find a config file.*", category=UserWarning)
    path = getattr(base, "local_path", "")
    options = load_options(device=current_device(), hp=hp, bitsandbytes=bitsandbytes_installed(),
                           from_gguf=not path or path.endswith(".gguf"))
    for note in options.notes:
        on_note(note)
    tokenizer, model = load_local(base, dtype=options.dtype, quantization_config=_quantization_config(options))
    # A model read from GGUF carries its quantizer; the adapter is saved from plain weights.
    if not options.load_in_4bit:
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model = model.to(options.device)
    else:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=hp.gradient_checkpointing)
    if hp.gradient_checkpointing:
        model.config.use_cache = False
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    config = LoraConfig(r=hp.lora_r, lora_alpha=hp.lora_alpha, lora_dropout=0.0, task_type="CAUSAL_LM",
                        target_modules=lora_target_modules(model.config.model_type, hp.lora_targets))
    return tokenizer, get_peft_model(model, config).to(options.device), options.device


def _encode(tokenizer, line: dict, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids and labels of one example, at most `max_length` long: the prompt's start is cut first, since
    the answer is what is learned."""
    *prompt_messages, answer = line["messages"]
    prompt = tokenizer.apply_chat_template(prompt_messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    answer_ids = tokenizer(answer["content"] + (tokenizer.eos_token or ""), add_special_tokens=False).input_ids
    ids, labels = prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids
    return ids[-max_length:], labels[-max_length:]


def _batches(encoded: list, size: int, pad: int, device: str):
    import torch

    for start in range(0, len(encoded), size):
        batch = encoded[start : start + size]
        width = max(len(ids) for ids, _ in batch)
        yield (
            torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch], device=device),
            torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch], device=device),
            torch.tensor([labels + [-100] * (width - len(labels)) for _, labels in batch], device=device),
        )


def train(*, training: list[dict], validation: list[dict], hp: Hyperparameters,
          on_step: Callable[[int, int, float], None], on_validation: Callable[[int, float], None],
          should_stop: Callable[[], bool], seed: int = 0, base=None,
          on_phase: Callable[[str], None] = lambda phase: None,
          on_note: Callable[[str], None] = lambda note: None,
          checkpoint_every: int = 0, on_checkpoint: Callable[[str, int], None] | None = None,
          resume_from: str = "") -> str:
    """Train a LoRA adapter on the local model row `base` (None: the bundled model); returns the folder it was
    saved in. A step is one optimizer step over `gradient_accumulation` batches. Raises Stopped when cancelled.

    `on_phase` hears "loading", "tokenising", "training" (just before the first step) and "saving" as they begin.
    With `on_checkpoint`, the adapter and the optimizer's state are saved into a fresh folder at the end of each
    epoch and every `checkpoint_every` steps, and handed over with the step. `resume_from` (such a folder) goes
    on from its step with the same batches an uninterrupted training would have had.
    """
    import torch

    torch.manual_seed(seed)
    on_phase("loading")
    tokenizer, model, device = _load_trainable(base, hp, on_note)
    on_phase("tokenising")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = [_encode(tokenizer, line, hp.max_seq_length) for line in training]
    held_out = [_encode(tokenizer, line, hp.max_seq_length) for line in validation]
    batches_per_epoch = -(-len(encoded) // hp.batch_size)
    steps_per_epoch = -(-batches_per_epoch // hp.gradient_accumulation)
    total = steps_per_epoch * hp.epochs
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=hp.learning_rate)
    done = _restore(model, optimizer, resume_from, device) if resume_from else 0
    order = random.Random(seed)
    step = 0
    on_phase("training")
    for _epoch in range(hp.epochs):
        model.train()
        order.shuffle(encoded)  # shuffled for every epoch, the ones done too: resuming sees the same batches
        if step + steps_per_epoch <= done:
            step += steps_per_epoch
            continue
        batches = _batches(encoded, hp.batch_size, pad, device)
        while group := list(itertools.islice(batches, hp.gradient_accumulation)):
            if step < done:
                step += 1
                continue
            if should_stop():
                raise Stopped
            losses = []
            for input_ids, attention, labels in group:
                loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
                (loss / len(group)).backward()
                losses.append(float(loss.item()))
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            on_step(step, total, sum(losses) / len(losses))
            if on_checkpoint and checkpoint_every and step % checkpoint_every == 0 and step % steps_per_epoch:
                on_checkpoint(_checkpoint(model, optimizer, step), step)
        if held_out:
            on_validation(step, _mean_loss(model, held_out, hp.batch_size, pad, device))
        if on_checkpoint and step < total:
            on_checkpoint(_checkpoint(model, optimizer, step), step)
    on_phase("saving")
    folder = tempfile.mkdtemp(prefix="taskllm-adapter-")
    model.save_pretrained(folder)
    return folder


def _checkpoint(model, optimizer, step: int) -> str:
    import torch

    folder = tempfile.mkdtemp(prefix="taskllm-checkpoint-")
    model.save_pretrained(folder)
    torch.save(optimizer.state_dict(), Path(folder) / "optimizer.pt")
    (Path(folder) / "trainer_state.json").write_text(json.dumps({"step": step}))
    return folder


def _restore(model, optimizer, folder: str, device: str) -> int:
    """Load a checkpoint's adapter weights and optimizer state; returns the step it was taken at."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(Path(folder) / "adapter_model.safetensors"), device=device))
    optimizer.load_state_dict(torch.load(Path(folder) / "optimizer.pt", map_location=device))
    return int(json.loads((Path(folder) / "trainer_state.json").read_text())["step"])


def _mean_loss(model, encoded, batch_size, pad, device) -> float:
    import torch

    model.eval()
    losses = []
    with torch.no_grad():
        for input_ids, attention, labels in _batches(encoded, batch_size, pad, device):
            losses.append(float(model(input_ids=input_ids, attention_mask=attention, labels=labels).loss.item()))
    return sum(losses) / len(losses)


def lines_of(jsonl: bytes) -> list[dict]:
    return [json.loads(line) for line in jsonl.decode().splitlines() if line.strip()]
