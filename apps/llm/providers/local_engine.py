"""Batched greedy inference for the bundled model, with the prompt's shared prefix computed once.

Every record of a run or eval is rendered with the same text before it (chat template, system message,
definitions, few-shot turns). That prefix's key/value cache is computed once per model and kept (the few most
recent ones), and each batch of records starts from a copy of it, so a record costs only its own tokens.

A batch holds one record per row, right-padded. Rows of different lengths, and the candidate labels of a
record, share one forward pass: each token gets its position explicitly and a custom attention mask says what
it may see (the prefix, its own row's earlier real tokens, and for a candidate label only its own label's
tokens). Padding is never attended, so each row's numbers are those of the record run alone, up to float
rounding. Logits are computed only where they are read (the language-model head is a fifth of the model).
"""

import copy
from collections import OrderedDict

import torch

PREFIXES_KEPT = 4
NEVER = torch.finfo(torch.float32).min


def shared_prefix_length(rows: list[list[int]], prefix_lengths: list[int]) -> int:
    """How many leading tokens all `rows` share, at most each row's own prefix and always leaving a token of its own."""
    limit = min(min(prefix_lengths), *(len(r) - 1 for r in rows))
    first = rows[0]
    for length in range(limit):
        if any(r[length] != first[length] for r in rows):
            return max(length, 1)
    return max(limit, 1)


def prefix_cache(model, ids: list[int]):
    """The key/value cache of `ids` (batch of one), computed once and kept on the model object."""
    kept: OrderedDict = model.__dict__.setdefault("_taskllm_prefixes", OrderedDict())
    key = tuple(ids)
    if key in kept:
        kept.move_to_end(key)
        return kept[key]
    with torch.inference_mode():
        cache = model.model(input_ids=torch.tensor([ids]), use_cache=True).cache
    kept[key] = cache
    while len(kept) > PREFIXES_KEPT:
        kept.popitem(last=False)
    return cache


def _batch_cache(model, prefix: list[int], rows: int):
    cache = copy.deepcopy(prefix_cache(model, prefix))
    if rows > 1:
        cache.batch_repeat_interleave(rows)
    return cache


def _hidden(model, cache, input_ids, positions, visible):
    """Run new tokens on top of `cache`; `visible` [B, Q, K] says which keys each query sees."""
    mask = torch.zeros(visible.shape, dtype=torch.float32).masked_fill_(~visible, NEVER)[:, None]
    out = model.model(input_ids=input_ids, position_ids=positions, attention_mask=mask, cache=cache,
                      use_cache=True)
    return out.last_hidden_state


def _log_probs_of(model, hidden, tokens: list[int], chunk: int = 256):
    """log p(token) for the given tokens at each of `hidden`'s positions ([N, H] → [N, len(tokens)]), a chunk of
    positions at a time so the full-vocabulary logits never fill memory."""
    parts = []
    for start in range(0, hidden.shape[0], chunk):
        logits = model.lm_head(hidden[start : start + chunk]).float()
        parts.append(logits[:, tokens] - torch.logsumexp(logits, dim=-1, keepdim=True))
    return torch.cat(parts)


def score_labels(model, rows: list[list[int]], prefix: int, candidates: list[list[int]], pad: int
                 ) -> list[list[float]]:
    """The log-likelihood of each candidate continuation after each row, in one forward pass.

    Layout of a row after the shared prefix: the row's own tokens (padded to the longest), then every
    candidate's tokens side by side; candidate tokens see the prefix, their row and their own candidate.
    """
    lengths = torch.tensor([len(r) - prefix for r in rows])
    width = int(lengths.max())
    offsets = [width + sum(len(c) for c in candidates[:j]) for j in range(len(candidates))]
    total = width + sum(len(c) for c in candidates)
    segment = torch.full((total,), -1)
    for j, c in enumerate(candidates):
        segment[offsets[j]:offsets[j] + len(c)] = j
    own = torch.tril(torch.ones(total, total, dtype=torch.bool))
    own &= (segment[None, :] == -1) | (segment[None, :] == segment[:, None])
    real_key = torch.cat([torch.arange(width)[None, :] < lengths[:, None],
                          torch.ones(len(rows), total - width, dtype=torch.bool)], dim=1)
    visible = torch.cat([torch.ones(len(rows), total, prefix, dtype=torch.bool), own[None] & real_key[:, None]],
                        dim=2)
    positions = torch.cat([torch.arange(width).expand(len(rows), width),
                           torch.cat([torch.arange(len(c)) for c in candidates]).expand(len(rows), -1)
                           + lengths[:, None]], dim=1) + prefix
    input_ids = torch.tensor([r[prefix:] + [pad] * (width - len(r) + prefix) + sum(candidates, []) for r in rows])
    inner = [offsets[j] + t for j, c in enumerate(candidates) for t in range(len(c) - 1)]
    with torch.inference_mode():
        hidden = _hidden(model, _batch_cache(model, rows[0][:prefix], len(rows)), input_ids, positions, visible)
        # Read at each row's last own token (every candidate's first token) and inside the candidates.
        read = torch.cat([hidden[torch.arange(len(rows)), lengths - 1][:, None], hidden[:, inner]], dim=1)
        tokens = sorted({token for c in candidates for token in c})
        log_probs = _log_probs_of(model, read.reshape(-1, read.shape[-1]), tokens).view(len(rows), -1, len(tokens))
    column = {token: n for n, token in enumerate(tokens)}
    log_probs = log_probs.tolist()
    scores = []
    for b in range(len(rows)):
        row_scores, place = [], 1
        for c in candidates:
            score = log_probs[b][0][column[c[0]]]
            for t in range(1, len(c)):
                score += log_probs[b][place][column[c[t]]]
                place += 1
            row_scores.append(score)
        scores.append(row_scores)
    return scores


def generate(model, rows: list[list[int]], prefix: int, *, max_new_tokens: int, stop_ids: set[int], pad: int
             ) -> list[list[int]]:
    """Greedy continuations of every row (each ends with its stop token when it met one before `max_new_tokens`).

    All rows start together; a row that stops leaves the batch, so the others' steps get cheaper.
    """
    count = len(rows)
    lengths = torch.tensor([len(r) - prefix for r in rows])
    width = int(lengths.max())
    real = torch.arange(width)[None, :] < lengths[:, None]
    visible = torch.cat([torch.ones(count, width, prefix, dtype=torch.bool),
                         torch.tril(torch.ones(width, width, dtype=torch.bool))[None] & real[:, None]], dim=2)
    input_ids = torch.tensor([r[prefix:] + [pad] * (width - len(r) + prefix) for r in rows])
    positions = torch.arange(width).expand(count, width) + prefix
    outputs: list[list[int]] = [[] for _ in rows]
    alive = list(range(count))
    with torch.inference_mode():
        cache = _batch_cache(model, rows[0][:prefix], count)
        hidden = _hidden(model, cache, input_ids, positions, visible)[torch.arange(count), lengths - 1]
        keys = visible[torch.arange(count), lengths - 1]  # what each row's next token may see: [B, K]
        next_positions = lengths + prefix
        while True:
            tokens = model.lm_head(hidden).argmax(dim=-1).tolist()
            keep = []
            for slot, (row, token) in enumerate(zip(alive, tokens, strict=True)):
                outputs[row].append(token)
                if token not in stop_ids and len(outputs[row]) < max_new_tokens:
                    keep.append(slot)
            if not keep:
                return outputs
            if len(keep) < len(alive):
                index = torch.tensor(keep)
                cache.batch_select_indices(index)
                keys, next_positions = keys[index], next_positions[index]
                alive = [alive[slot] for slot in keep]
                tokens = [tokens[slot] for slot in keep]
            keys = torch.cat([keys, torch.ones(len(alive), 1, dtype=torch.bool)], dim=1)
            hidden = _hidden(model, cache, torch.tensor(tokens)[:, None], next_positions[:, None], keys[:, None])[:, 0]
            next_positions = next_positions + 1
