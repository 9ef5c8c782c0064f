"""The bundled model on this CPU: load time, classification records/s and memory.

    python bench/local_model.py            # 60 records
    python bench/local_model.py --quick    # 12 records

Classification with SmolLM2-135M-Instruct scores every label in one forward pass per record.
"""

import argparse
import os
import time

from _common import peak_rss_mb, setup_django

LABELS = ["account_hold", "payment_review", "service_credit", "billing", "escalation", "technical"]
TEXTS = [
    "Please put a hold on my account while I'm travelling next month.",
    "Why is there a hold on my order? I paid yesterday.",
    "I was promised a credit for the outage last week and it never showed up.",
    "Can I get credit terms of 60 days on our next invoice?",
    "This is the third time I've asked. I want this escalated to a manager.",
    "The app crashes when I open the reports tab.",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="12 records instead of 60")
    args = parser.parse_args()
    count = 12 if args.quick else 60
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    setup_django()
    from apps.llm.client import Caller
    from apps.llm.models import Model
    from apps.llm.providers import local
    from apps.projects.models import Project
    from apps.prompts.rendering import render_messages, schema_for
    from apps.prompts.services import prompt_create

    project = Project.objects.create(name=f"local bench {time.time():.0f}", task_kind="classification",
                                     labels=LABELS)
    version = prompt_create(project=project, name="plain", system="Route the support ticket.").versions.get()
    schema = schema_for(project, version)
    model = Model(name="SmolLM2", provider="local")
    started = time.perf_counter()
    local.load("")
    load_seconds = time.perf_counter() - started
    print(f"loaded in {load_seconds:.1f} s; RSS {peak_rss_mb():.0f} MB")
    with Caller(model) as caller:
        caller.submit(render_messages(project, version, TEXTS[0]), schema=schema).result()  # warm-up
        started = time.perf_counter()
        results = [caller.submit(render_messages(project, version, TEXTS[n % len(TEXTS)]), schema=schema).result()
                   for n in range(count)]
        seconds = time.perf_counter() - started
    assert all(r.valid for r in results), [r.error or r.problems for r in results if not r.valid][:3]
    latencies = sorted(r.latency_ms for r in results)
    rate = count / seconds
    print(f"{count} classifications in {seconds:.1f} s; latency p50 {latencies[len(latencies) // 2]} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1]} ms; peak RSS {peak_rss_mb():.0f} MB")
    project.delete()
    print(f"local_model: {rate:.1f} records/s classification, load {load_seconds:.0f} s, peak RSS "
          f"{peak_rss_mb():.0f} MB (target: report)")


if __name__ == "__main__":
    main()
