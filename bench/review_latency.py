"""Review screen and "next item" server time at 10,000 and at 1,000,000 outputs.

    python bench/review_latency.py            # 10,000 then 1,000,000 outputs (about 2 minutes to fill)
    python bench/review_latency.py --quick    # 10,000 then 100,000 outputs

Fills a PostgreSQL database of its own (taskllm_bench_review, made anew) by COPY: a classification
project, 100,000 records, runs of 100,000 outputs each, grades for half of the outputs. Then
measures, in-process with Django's test client (server time, no network), 200 requests of each.
"""

import argparse
import json
import os
import statistics
import time

from _common import setup_django

RECORDS_PER_RUN = 100_000
SAMPLES = 200
LABELS = ["account_hold", "payment_review", "service_credit", "billing", "escalation", "technical"]


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fill(total_outputs: int, name: str):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from apps.accounts.models import Membership
    from apps.datasets.models import Dataset, Record
    from apps.llm.models import Model
    from apps.projects.models import Project
    from apps.prompts.services import prompt_create
    from apps.review.models import Grade
    from apps.runs.models import Output, Run

    reviewer, _ = get_user_model().objects.get_or_create(username="bench-reviewer")
    grader, _ = get_user_model().objects.get_or_create(username="bench-grader")
    project = Project.objects.create(name=name, task_kind="classification", labels=LABELS,
                                     glossary=[{"term": "hold", "definition": "a customer-requested pause"}])
    for user in (reviewer, grader):
        Membership.objects.create(project=project, user=user, role="reviewer")
    dataset = Dataset.objects.create(project=project, name="bench")
    per_run = min(RECORDS_PER_RUN, total_outputs)
    text = "Please put a hold on my account while I travel; the invoice is also wrong. " * 3
    with connection.cursor() as cursor:
        copy_rows(cursor.cursor, Record._meta.db_table,
                  ["dataset_id", "position", "text", "label", "metadata", "split"],
                  ((dataset.id, n, f"#{n} {text}", LABELS[n % 6], "{}", "") for n in range(per_run)))
    record_ids = list(dataset.records.order_by("id").values_list("id", flat=True))
    version = prompt_create(project=project, name="bench").versions.get()
    model = Model.objects.create(project=project, name="bench", provider="local")
    messages = json.dumps([{"role": "system", "content": "Route the ticket."}, {"role": "user", "content": text}])
    runs = []
    for _ in range(max(1, total_outputs // per_run)):
        run = Run.objects.create(project=project, prompt_version=version, model=model, dataset=dataset,
                                 record_ids=[], total=per_run, status="SUCCEEDED")
        runs.append(run)
        with connection.cursor() as cursor:
            # The first half is graded (review_count 1), the second half waits in the queue.
            copy_rows(cursor.cursor, Output._meta.db_table,
                      ["run_id", "record_id", "repeat", "messages", "raw_text", "answer", "status", "problems",
                       "error", "latency_ms", "input_tokens", "output_tokens", "review_count", "created_at"],
                      ((run.id, rid, 0, messages, '{"label": "billing"}', '{"label": "billing"}', "ok", "[]", "",
                        100, 50, 5, 1 if i < per_run // 2 else 0, "2026-11-27T00:00:00Z")
                       for i, rid in enumerate(record_ids)))
        graded = list(run.outputs.filter(review_count=1).values_list("id", flat=True))
        with connection.cursor() as cursor:
            copy_rows(cursor.cursor, Grade._meta.db_table,
                      ["output_id", "reviewer_id", "verdict", "comment", "seconds_spent", "created_at", "updated_at"],
                      ((oid, grader.id, "pass", "", 3.0, "2026-11-27T00:00:00Z", "2026-11-27T00:00:00Z")
                       for oid in graded))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return project, runs, reviewer


def measure(client, url: str) -> list[float]:
    timings = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 302), (url, response.status_code)
    return timings


def summary(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def run_size(total: int) -> dict:
    from django.test import Client
    from django.urls import reverse

    started = time.perf_counter()
    project, runs, reviewer = fill(total, f"bench {total}")
    print(f"filled {total:,} outputs ({len(runs)} runs, half graded) in {time.perf_counter() - started:.0f} s")
    client = Client()
    client.force_login(reviewer)
    run = runs[-1]
    next_url = reverse("review:start", args=[run.id])
    output_id = client.get(next_url).url.split("/")[-2]
    screen_url = reverse("review:output", args=[run.id, output_id])
    client.get(screen_url)  # warm
    results = {"next": summary(measure(client, next_url)), "screen": summary(measure(client, screen_url))}
    for what, (p50, p95) in results.items():
        print(f"  {total:>9,} outputs  {what:<7} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
    return results


def large_record_screen() -> tuple[float, float]:
    """Server time of the screen for one 5,000-word NER record with 200 entity spans."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from apps.accounts.models import Membership
    from apps.datasets.models import Dataset, Record
    from apps.llm.models import Model
    from apps.projects.models import Project
    from apps.prompts.services import prompt_create
    from apps.runs.models import Output, Run

    reviewer = get_user_model().objects.get(username="bench-reviewer")
    project = Project.objects.create(name="bench ner", task_kind="ner", entity_types=["PARTY", "DATE"])
    Membership.objects.create(project=project, user=reviewer, role="reviewer")
    words = [f"word{n}" for n in range(5000)]
    record = Record.objects.create(dataset=Dataset.objects.create(project=project, name="long"), position=1,
                                   text=" ".join(words))
    run = Run.objects.create(project=project, prompt_version=prompt_create(project=project, name="p").versions.get(),
                             model=Model.objects.create(name="m", provider="local"), dataset=record.dataset,
                             record_ids=[record.id], total=1, status="SUCCEEDED")
    output = Output.objects.create(run=run, record=record, status="ok", answer={
        "entities": [{"text": words[n], "type": "PARTY"} for n in range(0, 5000, 25)]})
    client = Client()
    client.force_login(reviewer)
    url = reverse("review:output", args=[run.id, output.id])
    client.get(url)
    return summary(measure(client, url))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 outputs")
    args = parser.parse_args()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")  # leases live in the cache, as in production
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    setup_django(database="taskllm_bench_review", fresh=True)
    small = run_size(10_000)
    large_size = 100_000 if args.quick else 1_000_000
    large = run_size(large_size)
    long_p50, long_p95 = large_record_screen()
    print(f"  5,000-word record with 200 spans: screen p50 {long_p50:.1f} ms  p95 {long_p95:.1f} ms")
    worst = max(large["next"][1], large["screen"][1])
    ratio = max(large[k][1] / small[k][1] for k in ("next", "screen"))
    print(f"review_latency: p95 {worst:.1f} ms at {large_size:,} outputs, {large_size:,}/10k p95 ratio {ratio:.2f} "
          "(target p95 <= 30 ms at 1,000,000, ratio <= 1.5)")


if __name__ == "__main__":
    main()
