"""LoRA fine-tuning of the bundled model with transformers + peft: CUDA when there is one, else the CPU.

The loss counts only the answer's tokens: the prompt is context, not something to learn.
"""

import json
import random
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from apps.llm.bundled import load_bundled


@dataclass
class Hyperparameters:
    epochs: int = 3
    learning_rate: float = 2e-4
    batch_size: int = 4
    lora_r: int = 16
    lora_alpha: int = 32


class Stopped(Exception):
    """Training was cancelled between two steps."""


def _load_trainable(hp: Hyperparameters):
    import torch
    from peft import LoraConfig, get_peft_model

    # Noise for a user's terminal: peft asks transformers a question transformers 5 renamed, and looks for a
    # config.json the GGUF package does not have (the vocabulary is indeed unchanged).
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message="Could not find a config file.*", category=UserWarning)
    tokenizer, model = load_bundled()
    # A model read from GGUF carries its quantizer; the adapter is saved from plain fp32 weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = LoraConfig(r=hp.lora_r, lora_alpha=hp.lora_alpha, target_modules="all-linear", lora_dropout=0.0,
                        task_type="CAUSAL_LM")
    return tokenizer, get_peft_model(model, config).to(device), device


def _encode(tokenizer, line: dict) -> tuple[list[int], list[int]]:
    *prompt_messages, answer = line["messages"]
    prompt = tokenizer.apply_chat_template(prompt_messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    answer_ids = tokenizer(answer["content"] + tokenizer.eos_token, add_special_tokens=False).input_ids
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


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
          should_stop: Callable[[], bool], on_phase: Callable[[str], None] = lambda phase: None,
          seed: int = 0) -> str:
    """Train a LoRA adapter; returns the folder it was saved in. Raises Stopped when cancelled.

    `on_phase` hears "loading", "tokenising", "training" (just before step 1) and "saving" as they begin.
    """
    import torch

    torch.manual_seed(seed)
    on_phase("loading")
    tokenizer, model, device = _load_trainable(hp)
    on_phase("tokenising")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = [_encode(tokenizer, line) for line in training]
    held_out = [_encode(tokenizer, line) for line in validation]
    steps_per_epoch = -(-len(encoded) // hp.batch_size)
    total = steps_per_epoch * hp.epochs
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=hp.learning_rate)
    order = random.Random(seed)
    step = 0
    on_phase("training")
    for _epoch in range(hp.epochs):
        model.train()
        order.shuffle(encoded)
        for input_ids, attention, labels in _batches(encoded, hp.batch_size, pad, device):
            if should_stop():
                raise Stopped
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            on_step(step, total, float(loss.item()))
        if held_out:
            on_validation(step, _mean_loss(model, held_out, hp.batch_size, pad, device))
    on_phase("saving")
    folder = tempfile.mkdtemp(prefix="taskllm-adapter-")
    model.save_pretrained(folder)
    return folder


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
