"""The bundled model answering one record at a time with `model.generate`: the straightforward reference.

`local.py` answers in batches with a shared prompt prefix (`local_engine`); this module is what it replaced,
kept so that a test can check the batched answers against it (identical for greedy decoding) and the
benchmark can report the speed-up measured in the same run. Nothing in the product calls it.
"""

import json

from ..client import RawReply


def reply(tokenizer, model, messages: list[dict], schema: dict, *, max_tokens: int, adapter: bool) -> RawReply:
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    labels = (schema.get("properties", {}).get("label") or {}).get("enum")
    if labels and "reasoning" in schema.get("properties", {}):
        return _reason_then_label(tokenizer, model, prompt, labels, max_tokens)
    if labels:
        return _best_label(tokenizer, model, prompt, labels)
    return _generate(tokenizer, model, prompt, max_tokens, prefix="" if adapter else "{")


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
