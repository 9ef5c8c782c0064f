"""The bundled model on this CPU: the batched, prefix-cached path against one record at a time, in the same run.

    python bench/local_model.py            # 60 classifications, 42 chains of thought (a third as many one at a time)
    python bench/local_model.py --quick    # 12 and 6

Both paths answer the demo's support tickets with the demo's plain and chain-of-thought prompts. The new path is
what runs and evals use (`Caller.stream` handing the local provider batches, after a warm-up that lets it pick its
batch size); the old one is `local_reference` (`model.generate`, one record at a time, nothing shared). On a shared
machine the ratio, measured in the same run, is the figure to read; the absolute records/s move with the load.
"""

import argparse
import json
import threading
import time

from _common import ROOT, peak_rss_mb, setup_django

LABELS = ["account_hold", "payment_review", "service_credit", "billing", "escalation", "technical"]
SYSTEM = "You route support tickets to the team that handles them. The teams: {labels}."  # the demo's prompts
MAX_TOKENS = 128  # the demo's local model row


def demo_texts() -> list[str]:
    path = next(ROOT.glob("apps/**/support_tickets.jsonl"))
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def rate_new(model_row, conversations, schema) -> tuple[float, list]:
    from apps.llm.client import Caller

    jobs = ((n, messages, None) for n, messages in enumerate(conversations))
    started = time.perf_counter()
    with Caller(model_row) as caller:
        arrived = [item for tick in caller.stream(jobs, schema=schema, stop=threading.Event()) for item in tick]
    seconds = time.perf_counter() - started
    return len(conversations) / seconds, [c for _, c in sorted(arrived, key=lambda item: item[0])]


def rate_old(model_row, conversations, schema) -> tuple[float, list]:
    from apps.llm.providers import local, local_reference

    tokenizer, model = local.load("")
    started = time.perf_counter()
    replies = [local_reference.reply(tokenizer, model, messages, schema, max_tokens=model_row.max_tokens,
                                     adapter=False) for messages in conversations]
    return len(conversations) / (time.perf_counter() - started), replies


def compare(name, model_row, conversations, schema, old_count) -> tuple[float, float]:
    rate_new(model_row, conversations[:8], schema)  # warm-up: the prefix cache and the batch-size choice
    new, new_answers = rate_new(model_row, conversations, schema)
    new_peak = peak_rss_mb()
    old, old_answers = rate_old(model_row, conversations[:old_count], schema)
    same = sum(a.text == b.text for a, b in zip(new_answers, old_answers, strict=False))
    print(f"{name:17} new {new:5.2f} records/s ({len(conversations)} records) | one at a time {old:5.2f} records/s "
          f"({old_count}) | x{new / old:.1f} | same answers {same}/{old_count} | peak RSS {new_peak:.0f} MB after the "
          f"new path, {peak_rss_mb():.0f} MB after both")
    return new, old


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="12 classifications and 6 chains of thought")
    args = parser.parse_args()
    classify, reason = (12, 6) if args.quick else (60, 42)  # 42: the demo eval's test cases
    setup_django()
    from apps.llm.models import Model
    from apps.llm.providers import local
    from apps.projects.models import Project
    from apps.prompts.rendering import render_messages, schema_for
    from apps.prompts.services import prompt_create

    project = Project.objects.create(name=f"local bench {time.time():.0f}", task_kind="classification",
                                     labels=LABELS)
    model_row = Model(name="SmolLM2", provider="local", max_tokens=MAX_TOKENS)
    started = time.perf_counter()
    local.load("")
    load_seconds = time.perf_counter() - started
    print(f"loaded in {load_seconds:.1f} s; RSS {peak_rss_mb():.0f} MB")
    texts = demo_texts()
    results = {}
    for name, style, count in (("classification", "plain", classify), ("chain of thought", "cot", reason)):
        version = prompt_create(project=project, name=name, style=style, system=SYSTEM).versions.get()
        conversations = [render_messages(project, version, texts[n % len(texts)]) for n in range(count)]
        results[name] = compare(name, model_row, conversations, schema_for(project, version),
                                old_count=max(4, count // 3))
    project.delete()
    measured = ", ".join(f"{work} x{size}: {rate:.1f}/s" for (work, size), rate in sorted(local.sizer.rates.items()))
    print(f"records/s by batch size (the provider keeps the fastest): {measured}")
    (cls_new, cls_old), (cot_new, cot_old) = results["classification"], results["chain of thought"]
    print(f"local_model: x{cls_new / cls_old:.1f} classification ({cls_new:.1f} records/s, target 8), "
          f"x{cot_new / cot_old:.1f} chain of thought ({cot_new:.2f} records/s, target 1.5), peak RSS "
          f"{peak_rss_mb():.0f} MB (target 1500)")


if __name__ == "__main__":
    main()
