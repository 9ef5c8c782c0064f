"""Batched greedy inference for the bundled model, with the prompt's shared prefix computed once.

Every record of a run or eval is rendered with the same text before it (chat template, system message,
definitions, few-shot turns). That prefix's key/value cache is computed once per model and kept (the few most
recent ones), and each batch of records starts from a copy of it, so a record costs only its own tokens.

A batch holds one record per row, right-padded. Rows of different lengths, and the candidate labels of a
record, share one forward pass: each token gets its position explicitly and a custom attention mask says what
it may see (the prefix, its own row's earlier real tokens, and for a candidate label only its own label's
tokens). Padding is never attended, so each row's numbers are those of the record run alone, up to float
rounding. Logits are computed only where they are read (the language-model head is a fifth of the model).

The batch's cache reserves room for the tokens still to come (`ReservedLayer`): each step writes its keys and
values in place, where transformers' dynamic cache copies the whole cache to append one token (at 32 rows that
copying was 29% of a generation step).

Generation is continuous: at most `width` rows decode together, and when a quarter of the places are free the
waiting rows are run through their own tokens and join the batch (the two caches merged, each keeping only the
slots its rows still see). On this CPU a step costs about the same for 1 row or 8 (the weights are read once per
step either way: 56 ms vs 79 ms), so a batch left with its one long answer wastes most of the machine.
"""

import copy
import time
from collections import OrderedDict

import torch
from transformers.cache_utils import DynamicLayer

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


class ReservedLayer(DynamicLayer):
    """One layer's keys and values in buffers with room for more tokens: `update` writes in place and answers
    views of the filled part (the buffers grow, doubling, only if the room runs out)."""

    def __init__(self, keys_buffer, values_buffer, length: int):
        super().__init__()
        self.device, self.length, self.is_initialized = keys_buffer.device, length, True
        self._keys, self._values = keys_buffer, values_buffer
        self._expose()

    @classmethod
    def reserved(cls, keys, values, room: int) -> "ReservedLayer":
        """The filled `keys` and `values` ([B, H, L, D]) with room for `room` more tokens."""
        return cls(*(_buffer([(t, None)], t.shape[-2] + room) for t in (keys, values)), keys.shape[-2])

    @classmethod
    def joined(cls, first: "ReservedLayer", first_slots, second: "ReservedLayer", second_slots, room: int
               ) -> "ReservedLayer":
        """The rows of `first` then those of `second`, each keeping only the given slots (the rest zeros)."""
        length = max(len(first_slots), len(second_slots))
        return cls(_buffer([(first.keys, first_slots), (second.keys, second_slots)], length + room),
                   _buffer([(first.values, first_slots), (second.values, second_slots)], length + room), length)

    def _expose(self):
        self.keys, self.values = self._keys[..., : self.length, :], self._values[..., : self.length, :]

    def update(self, key_states, value_states, *args, **kwargs):
        end = self.length + key_states.shape[-2]
        if end > self._keys.shape[-2]:
            self._keys, self._values = (_buffer([(t, None)], 2 * end) for t in (self.keys, self.values))
        self._keys[..., self.length : end, :] = key_states
        self._values[..., self.length : end, :] = value_states
        self.length = end
        self._expose()
        return self.keys, self.values

    def batch_select_indices(self, indices):
        self._keys, self._values = self._keys[indices], self._values[indices]
        self._expose()


def _buffer(parts, capacity: int):
    """A zeroed [B, H, capacity, D] buffer holding each part's rows in turn (a part: a tensor and the slots to
    keep, None for all). Unfilled slots are zeros, not garbage: a masked score must stay finite."""
    first = parts[0][0]
    rows = sum(t.shape[0] for t, _ in parts)
    buffer = first.new_zeros(rows, first.shape[1], capacity, first.shape[-1])
    start = 0
    for tensor, slots in parts:
        kept = tensor if slots is None else tensor.index_select(2, slots)
        buffer[start : start + tensor.shape[0], :, : kept.shape[2]] = kept
        start += tensor.shape[0]
    return buffer


def _batch_cache(model, prefix: list[int], rows: int, room: int):
    """A cache for `rows` rows starting from the prefix's, with room for `room` more tokens per row."""
    shared = prefix_cache(model, prefix)
    cache = copy.copy(shared)
    cache.layers = [ReservedLayer.reserved(layer.keys.expand(rows, -1, -1, -1),
                                           layer.values.expand(rows, -1, -1, -1), room) for layer in shared.layers]
    return cache


def _hidden(model, cache, input_ids, positions, visible):
    """Run new tokens on top of `cache`; `visible` [B, Q, K] says which keys each query sees."""
    mask = torch.zeros(visible.shape, dtype=torch.float32).masked_fill_(~visible, NEVER)[:, None]
    out = model.model(input_ids=input_ids, position_ids=positions, attention_mask=mask, cache=cache,
                      use_cache=True)
    return out.last_hidden_state


def _log_probs_of(model, hidden, tokens: list[int], chunk: int = 128):
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
    candidate's tokens but its last side by side (a last token is only predicted, never read); candidate tokens
    see the prefix, their row and their own candidate.
    """
    lengths = torch.tensor([len(r) - prefix for r in rows])
    width = int(lengths.max())
    fed = [c[:-1] for c in candidates]
    total = width + sum(len(c) for c in fed)
    segment = torch.tensor([-1] * width + [j for j, c in enumerate(fed) for _ in c])
    own = torch.tril(torch.ones(total, total, dtype=torch.bool))
    own &= (segment[None, :] == -1) | (segment[None, :] == segment[:, None])
    real_key = torch.cat([torch.arange(width)[None, :] < lengths[:, None],
                          torch.ones(len(rows), total - width, dtype=torch.bool)], dim=1)
    visible = torch.cat([torch.ones(len(rows), total, prefix, dtype=torch.bool), own[None] & real_key[:, None]],
                        dim=2)
    steps = torch.tensor([t for c in fed for t in range(len(c))], dtype=torch.long)
    positions = torch.cat([torch.arange(width).expand(len(rows), width),
                           steps.expand(len(rows), -1) + lengths[:, None]], dim=1) + prefix
    input_ids = torch.tensor([r[prefix:] + [pad] * (width - len(r) + prefix) + sum(fed, []) for r in rows])
    with torch.inference_mode():
        cache = _batch_cache(model, rows[0][:prefix], len(rows), room=total)
        hidden = _hidden(model, cache, input_ids, positions, visible)
        # Read at each row's last own token (every candidate's first token) and at every candidate token fed.
        read = torch.cat([hidden[torch.arange(len(rows)), lengths - 1][:, None], hidden[:, width:]], dim=1)
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


def generate(model, rows: list[list[int]], prefix: int, *, max_new_tokens: int, stop_ids: set[int], pad: int,
             width: int | None = None, seconds: list[float] | None = None) -> list[list[int]]:
    """Greedy continuations of every row (each ends with its stop token when it met one before `max_new_tokens`).

    At most `width` rows (all of them by default) decode together. A row that stops leaves the batch, and while
    rows are waiting they join it as soon as a quarter of its places are free (continuous batching): one long
    answer no longer leaves the machine decoding a nearly empty batch. `seconds`, when given, receives each row's
    time from joining the batch to its last token.
    """
    width = width or len(rows)
    waiting = list(range(len(rows)))
    outputs: list[list[int]] = [[] for _ in rows]
    joined: dict[int, float] = {}
    running = None
    with torch.inference_mode():
        while True:
            free = width - (len(running.rows) if running else 0)
            if waiting and free >= max(1, width // 4):
                joining, waiting = waiting[:free], waiting[free:]
                joined.update(dict.fromkeys(joining, time.perf_counter()))
                started = _Running.prefill(model, [rows[n] for n in joining], joining, prefix, pad,
                                           room=0 if running else max_new_tokens)  # joiners' room: the merge's
                running = started if running is None else running.merged(started, room=max_new_tokens)
            if running is None:
                return outputs
            tokens = model.lm_head(running.hidden).argmax(dim=-1).tolist()
            keep = []
            for slot, (row, token) in enumerate(zip(running.rows, tokens, strict=True)):
                outputs[row].append(token)
                if token not in stop_ids and len(outputs[row]) < max_new_tokens:
                    keep.append(slot)
                elif seconds is not None:
                    seconds[row] = time.perf_counter() - joined[row]
            running = running.step(model, keep, [tokens[slot] for slot in keep])


class _Running:
    """The rows decoding together: their cache, which cache slots each row sees, where its next token goes, and
    the hidden state its next token is read from."""

    def __init__(self, rows: list[int], cache, keys, positions, hidden):
        self.rows, self.cache, self.keys, self.positions, self.hidden = rows, cache, keys, positions, hidden

    @classmethod
    def prefill(cls, model, rows: list[list[int]], names: list[int], prefix: int, pad: int, room: int):
        """Run `rows` (each starting with the shared `prefix`) together on the prefix's cache."""
        count = len(rows)
        lengths = torch.tensor([len(r) - prefix for r in rows])
        width = int(lengths.max())
        real = torch.arange(width)[None, :] < lengths[:, None]
        visible = torch.cat([torch.ones(count, width, prefix, dtype=torch.bool),
                             torch.tril(torch.ones(width, width, dtype=torch.bool))[None] & real[:, None]], dim=2)
        input_ids = torch.tensor([r[prefix:] + [pad] * (width - len(r) + prefix) for r in rows])
        positions = torch.arange(width).expand(count, width) + prefix
        cache = _batch_cache(model, rows[0][:prefix], count, room=width + room)
        hidden = _hidden(model, cache, input_ids, positions, visible)[torch.arange(count), lengths - 1]
        keys = visible[torch.arange(count), lengths - 1]  # what each row's next token may see: [B, K]
        return cls(names, cache, keys, lengths + prefix, hidden)

    def step(self, model, keep: list[int], tokens: list[int]):
        """Keep the rows in `keep` (slots), feed each its new token; None when no row is left."""
        if not keep:
            return None
        if len(keep) < len(self.rows):
            index = torch.tensor(keep)
            self.cache.batch_select_indices(index)
            self.keys, self.positions = self.keys[index], self.positions[index]
            self.rows = [self.rows[slot] for slot in keep]
        self.keys = torch.cat([self.keys, torch.ones(len(self.rows), 1, dtype=torch.bool)], dim=1)
        self.hidden = _hidden(model, self.cache, torch.tensor(tokens)[:, None], self.positions[:, None],
                              self.keys[:, None])[:, 0]
        self.positions = self.positions + 1
        return self

    def merged(self, other: "_Running", room: int) -> "_Running":
        """One batch of both: each side's cache keeps only the slots one of its rows still sees, and the
        shorter side is padded with slots nobody sees (zeros, so that masked scores stay finite)."""
        mine, theirs = self.keys.any(dim=0).nonzero()[:, 0], other.keys.any(dim=0).nonzero()[:, 0]
        for n, (a, b) in enumerate(zip(self.cache.layers, other.cache.layers, strict=True)):
            self.cache.layers[n] = ReservedLayer.joined(a, mine, b, theirs, room)  # layer by layer: one copy at a time
        keys = torch.zeros(len(self.rows) + len(other.rows), max(len(mine), len(theirs)), dtype=torch.bool)
        keys[: len(self.rows), : len(mine)] = self.keys[:, mine]
        keys[len(self.rows) :, : len(theirs)] = other.keys[:, theirs]
        return _Running(self.rows + other.rows, self.cache, keys, torch.cat([self.positions, other.positions]),
                        torch.cat([self.hidden, other.hidden]))
