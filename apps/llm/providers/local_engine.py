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

That step's cost is also why a small batch guesses ahead (prompt lookup, `_Guesser`): each row feeds its new
token and the tokens that followed its last three tokens earlier on, and keeps the guesses the model's own greedy
picks confirm, so answers are unchanged. The bundled model's reasoning often loops ("You have a hold on your
order. You have a hold on ..."), and those rows then take several tokens a step: on the demo's 42 chain-of-thought
records, generation went from 22.4 s to 16.4 s. Larger guess budgets were slower (24 tokens a step: 16.4 s;
48: 21 s; 96: 28 s), as arithmetic, not reading the weights, then sets the step's cost.

With chain of thought the labels are read after the reasoning; `LabelsAfter` scores them on the cache the
generation left (only the label's opening and the candidates are run), where running each record's prompt and
reasoning again (padded to the longest) took 10.9 s of 26.4 s on those 42 records. Both together: 40.3 s before,
18.8 s after, same answers.
"""

import copy
import ctypes
import ctypes.util
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers.cache_utils import DynamicLayer

PREFIXES_KEPT = 4
NEVER = torch.finfo(torch.float32).min
M_ARENA_MAX = -8  # glibc's mallopt parameter


def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _glibc()


def one_heap() -> None:
    """Have glibc serve every thread from one heap. Batches run in the caller's worker threads, and with a heap
    per thread the caches one thread freed are kept for it alone (measured: 1.77 GB peak for the local
    benchmark, 1.55 GB with one heap)."""
    if _LIBC:
        _LIBC.mallopt(M_ARENA_MAX, 1)


def release_freed_memory() -> None:
    """Give the memory freed by a batch's caches back to the system; glibc keeps it otherwise."""
    if _LIBC:
        _LIBC.malloc_trim(0)


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
    """The log-likelihood of each candidate continuation after each row, in one forward pass, on the cache of
    the rows' shared `prefix` tokens."""
    tails = [r[prefix:] for r in rows]
    cache = _batch_cache(model, rows[0][:prefix], len(rows), room=_scoring_room(tails, candidates))
    return _score_tails(model, cache, torch.ones(len(rows), prefix, dtype=torch.bool), tails, candidates, pad)


def _scoring_room(tails: list[list[int]], candidates: list[list[int]]) -> int:
    return max(len(t) for t in tails) + sum(len(c) - 1 for c in candidates)


def _score_tails(model, cache, seen, tails: list[list[int]], candidates: list[list[int]], pad: int
                 ) -> list[list[float]]:
    """Candidate log-likelihoods after each row, where a row is the cached tokens it sees (`seen` [B, K]: the
    first tokens of the row, in order, at positions 0, 1, ...) followed by its `tails` tokens.

    Layout after the cache: each row's tail (padded to the longest), then every candidate's tokens but its last
    side by side (a last token is only predicted, never read); candidate tokens see the row and their own
    candidate.
    """
    count, starts = len(tails), seen.sum(dim=1)
    lengths = torch.tensor([len(t) for t in tails])
    width = int(lengths.max())
    fed = [c[:-1] for c in candidates]
    total = width + sum(len(c) for c in fed)
    segment = torch.tensor([-1] * width + [j for j, c in enumerate(fed) for _ in c])
    own = torch.tril(torch.ones(total, total, dtype=torch.bool))
    own &= (segment[None, :] == -1) | (segment[None, :] == segment[:, None])
    real_key = torch.cat([torch.arange(width)[None, :] < lengths[:, None],
                          torch.ones(count, total - width, dtype=torch.bool)], dim=1)
    visible = torch.cat([seen[:, None, :].expand(-1, total, -1), own[None] & real_key[:, None]], dim=2)
    steps = torch.tensor([t for c in fed for t in range(len(c))], dtype=torch.long)
    positions = torch.cat([torch.arange(width).expand(count, width),
                           steps.expand(count, -1) + lengths[:, None]], dim=1) + starts[:, None]
    input_ids = torch.tensor([t + [pad] * (width - len(t)) + sum(fed, []) for t in tails])
    with torch.inference_mode():
        hidden = _hidden(model, cache, input_ids, positions, visible)
        # Read at each row's last tail token (every candidate's first token) and at every candidate token fed.
        read = torch.cat([hidden[torch.arange(count), lengths - 1][:, None], hidden[:, width:]], dim=1)
        tokens = sorted({token for c in candidates for token in c})
        log_probs = _log_probs_of(model, read.reshape(-1, read.shape[-1]), tokens).view(count, -1, len(tokens))
    column = {token: n for n, token in enumerate(tokens)}
    log_probs = log_probs.tolist()
    scores = []
    for b in range(count):
        row_scores, place = [], 1
        for c in candidates:
            score = log_probs[b][0][column[c[0]]]
            for t in range(1, len(c)):
                score += log_probs[b][place][column[c[t]]]
                place += 1
            row_scores.append(score)
        scores.append(row_scores)
    return scores


@dataclass
class LabelsAfter:
    """Score candidate labels after each generated answer (chain of thought: the reasoning, then the label), on
    the generation's own cache. `continuation(row, answer tokens)` is the whole token row the labels are read
    after (prompt, answer as it will be written, the label's opening); the cache covers the part it shares with
    what was generated, so only the rest and the candidates are run. Answers are scored `group` at a time."""

    candidates: list[list[int]]
    continuation: Callable[[int, list[int]], list[int]]
    pad: int
    group: int = 8
    scores: dict[int, list[float]] = field(default_factory=dict)
    _waiting: list = field(default_factory=list)

    def keep(self, batch: "_Running", slot: int, prompt: list[int], answer: list[int]) -> None:
        """Set aside the cache of the finished answer in `slot`."""
        row, known = batch.rows[slot], prompt + answer
        wanted = self.continuation(row, answer)
        shared = min(common_length(wanted, known), len(wanted) - 1, int(batch.keys[slot].sum()))
        slots = batch.keys[slot].nonzero()[:shared, 0]
        layers = [(layer.keys[slot].index_select(1, slots), layer.values[slot].index_select(1, slots))
                  for layer in batch.cache.layers]
        self._waiting.append((row, layers, wanted[shared:]))

    def ready(self) -> bool:
        return len(self._waiting) >= self.group

    def score(self, model, template) -> list[int]:
        """Score every answer set aside; the rows scored."""
        if not self._waiting:
            return []
        rows, layers, tails = zip(*self._waiting, strict=True)
        self._waiting = []
        cached = torch.tensor([pairs[0][0].shape[1] for pairs in layers])
        longest, room = int(cached.max()), _scoring_room(list(tails), self.candidates)
        cache = copy.copy(template)  # each answer's [H, L, D] keys and values, zero-padded into one batch
        cache.layers = [ReservedLayer(*(_buffer([(pairs[n][side][None], None) for pairs in layers], longest + room)
                                        for side in (0, 1)), longest) for n in range(len(template.layers))]
        del layers  # the per-answer copies, now in the batch's buffers: freed before the forward pass
        seen = torch.arange(longest)[None, :] < cached[:, None]
        for row, row_scores in zip(rows, _score_tails(model, cache, seen, list(tails), self.candidates, self.pad),
                                   strict=True):
            self.scores[row] = row_scores
        return list(rows)


def common_length(a: list[int], b: list[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def generate(model, rows: list[list[int]], prefix: int, *, max_new_tokens: int, stop_ids: set[int], pad: int,
             width: int | None = None, seconds: list[float] | None = None, then: LabelsAfter | None = None
             ) -> list[list[int]]:
    """Greedy continuations of every row (each ends with its stop token when it met one before `max_new_tokens`).

    At most `width` rows (all of them by default) decode together. A row that stops leaves the batch, and while
    rows are waiting they join it as soon as a quarter of its places are free (continuous batching): one long
    answer no longer leaves the machine decoding a nearly empty batch. While the batch is small, each row also
    feeds the tokens it guesses come next (`_Guesser`) and keeps those the model agrees with. With `then`, each
    answer's labels are scored on its own cache as it finishes. `seconds`, when given, receives each row's time
    from joining the batch to its answer.
    """
    width = width or len(rows)
    waiting = list(range(len(rows)))
    outputs: list[list[int]] = [[] for _ in rows]
    guesser = _Guesser(rows, outputs)
    joined: dict[int, float] = {}
    running = None

    def answered(done: list[int]) -> None:
        for row in done:
            if seconds is not None:
                seconds[row] = time.perf_counter() - joined[row]

    def settle(batch: "_Running", greedy: list[list[int]]) -> "_Running | None":
        """Take each row's new tokens from the greedy picks; the rows that go on."""
        keep, accepted, done = [], [], []
        for slot, (row, picks) in enumerate(zip(batch.rows, greedy, strict=True)):
            new = _agreed(batch.fed[slot][1:], picks)
            accepted.append(len(new) - 1)
            guesser.heard(row, len(new) - 1, max(0, len(batch.fed[slot]) - 1))
            (keep if _extend(outputs[row], new, stop_ids, max_new_tokens) else done).append(slot)
        batch.accept(accepted)
        if not then:
            answered([batch.rows[slot] for slot in done])
            return batch.narrowed(keep)
        for slot in done:
            then.keep(batch, slot, rows[batch.rows[slot]], outputs[batch.rows[slot]])
        if then.ready():
            answered(then.score(model, prefix_cache(model, rows[0][:prefix])))
        return batch.narrowed(keep)

    with torch.inference_mode():
        while waiting or running:
            free = width - (len(running.rows) if running else 0)
            if waiting and free >= max(1, width // 4):
                joining, waiting = waiting[:free], waiting[free:]
                joined.update(dict.fromkeys(joining, time.perf_counter()))
                started, greedy = _Running.prefill(model, [rows[n] for n in joining], joining, prefix, pad,
                                                   room=0 if running else max_new_tokens)  # joiners: the merge's
                started = settle(started, greedy)
                running = running.merged(started, room=max_new_tokens) if running and started else running or started
            if running:
                fed = [[outputs[row][-1], *guesser.guess(row, len(running.rows))] for row in running.rows]
                running = settle(running, running.step(model, fed))
        if then:
            answered(then.score(model, prefix_cache(model, rows[0][:prefix])))
    release_freed_memory()
    return outputs


def _agreed(guesses: list[int], picks: list[int]) -> list[int]:
    """The model's greedy tokens, as far as the guesses fed after the first token were right: picks[j] follows
    the j-th token fed, so it counts only while every guess before it was the model's own pick."""
    new = [picks[0]]
    for guess, pick in zip(guesses, picks[1:], strict=False):
        if guess != new[-1]:
            break
        new.append(pick)
    return new


def _extend(output: list[int], new: list[int], stop_ids: set[int], most: int) -> bool:
    """Append `new` to `output` up to a stop token or `most` tokens; False when the row is done."""
    for token in new:
        output.append(token)
        if token in stop_ids or len(output) >= most:
            return False
    return True


class _Guesser:
    """Prompt lookup: a row's next tokens guessed as those that followed the latest earlier occurrence of its
    last few tokens (in its prompt or its own answer). Greedy answers that loop ("You have a hold on your order.
    You have a hold on ...", a small model's usual failure) are then decoded several tokens per step.

    Guesses are fed only while the batch is small, where a step's cost is reading the weights, not arithmetic
    (1 row: 56 ms, 8: 79 ms on this CPU): at most GUESS_BUDGET tokens per step over the batch. A row's guess
    length grows while its guesses are all right and shrinks when they are not.
    """

    NGRAM = 3
    GUESS_BUDGET = 24
    MOST = 8

    def __init__(self, rows: list[list[int]], outputs: list[list[int]]):
        self.rows, self.outputs = rows, outputs
        self.length = dict.fromkeys(range(len(rows)), 2)

    def guess(self, row: int, batch: int) -> list[int]:
        most = min(self.length[row], self.GUESS_BUDGET // batch - 1)
        if most < 1:
            return []
        known = self.rows[row] + self.outputs[row]
        tail = known[-self.NGRAM :]
        for start in range(len(known) - self.NGRAM - 1, -1, -1):
            if known[start : start + self.NGRAM] == tail:
                return known[start + self.NGRAM : start + self.NGRAM + most]
        return []

    def heard(self, row: int, right: int, guessed: int) -> None:
        """`right` of the row's `guessed` tokens were the model's own."""
        if guessed:
            self.length[row] = min(self.MOST, self.length[row] + 2) if right == guessed else max(1, right)


class _Running:
    """The rows decoding together: their cache, which cache slots each row sees, where its next token goes, and
    what each was fed last (its new token, then its guesses)."""

    def __init__(self, rows: list[int], cache, keys, positions):
        self.rows, self.cache, self.keys, self.positions = rows, cache, keys, positions
        self.fed: list[list[int]] = [[] for _ in rows]  # [] after the prefill: only its first pick counts

    @classmethod
    def prefill(cls, model, rows: list[list[int]], names: list[int], prefix: int, pad: int, room: int):
        """Run `rows` (each starting with the shared `prefix`) together on the prefix's cache; the batch and
        each row's first greedy token (as [[token], ...])."""
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
        return cls(names, cache, keys, lengths + prefix), model.lm_head(hidden).argmax(dim=-1)[:, None].tolist()

    def step(self, model, fed: list[list[int]]) -> list[list[int]]:
        """Feed each row its tokens (padded to the longest); each row's greedy pick after each token fed."""
        self.fed = fed
        lengths = torch.tensor([len(tokens) for tokens in fed])
        width = int(lengths.max())
        real = torch.arange(width)[None, :] < lengths[:, None]  # [B, Q]
        visible = torch.cat([self.keys[:, None, :].expand(-1, width, -1),
                             torch.tril(torch.ones(width, width, dtype=torch.bool))[None] & real[:, None]], dim=2)
        input_ids = torch.tensor([tokens + [0] * (width - len(tokens)) for tokens in fed])
        positions = self.positions[:, None] + torch.arange(width)
        hidden = _hidden(model, self.cache, input_ids, positions, visible)
        self.keys = torch.cat([self.keys, real], dim=1)
        return model.lm_head(hidden).argmax(dim=-1).tolist()

    def accept(self, accepted: list[int]) -> None:
        """After a step: each row's slots for wrong guesses hidden, and its next position moved past what it
        kept (`accepted`: how many of its guesses were right)."""
        if any(self.fed):
            width = max(len(tokens) for tokens in self.fed)
            right = torch.tensor(accepted)
            self.keys[:, -width:] &= torch.arange(width)[None, :] <= right[:, None]
            self.positions = self.positions + 1 + right

    def narrowed(self, keep: list[int]) -> "_Running | None":
        """Only the rows in `keep` (slots); None when no row is left."""
        if not keep:
            return None
        if len(keep) < len(self.rows):
            index = torch.tensor(keep)
            self.cache.batch_select_indices(index)
            self.keys, self.positions = self.keys[index], self.positions[index]
            self.rows = [self.rows[slot] for slot in keep]
            self.fed = [self.fed[slot] for slot in keep]
        return self

    def merged(self, other: "_Running", room: int) -> "_Running":
        """One batch of both: each side's cache keeps only the slots one of its rows still sees, and the
        shorter side is padded with slots nobody sees (zeros, so that masked scores stay finite)."""
        mine, theirs = self.keys.any(dim=0).nonzero()[:, 0], other.keys.any(dim=0).nonzero()[:, 0]
        for n, (a, b) in enumerate(zip(self.cache.layers, other.cache.layers, strict=True)):
            self.cache.layers[n] = ReservedLayer.joined(a, mine, b, theirs, room)  # layer by layer: one copy at a time
        release_freed_memory()
        keys = torch.zeros(len(self.rows) + len(other.rows), max(len(mine), len(theirs)), dtype=torch.bool)
        keys[: len(self.rows), : len(mine)] = self.keys[:, mine]
        keys[len(self.rows) :, : len(theirs)] = other.keys[:, theirs]
        return _Running(self.rows + other.rows, self.cache, keys, torch.cat([self.positions, other.positions]))
