"""Import speed and memory: a 1,000,000-record JSONL into PostgreSQL.

    python bench/import_records.py            # 1,000,000 records
    python bench/import_records.py --quick    # 50,000 records

Uses DATABASE_URL if set, else postgres://postgres@127.0.0.1:5432/taskllm_bench (created if missing).
Prints records/s and the importing process's peak RSS; the last line is the headline figure.
"""

import argparse
import json
import random
import time
from pathlib import Path

from _common import peak_rss_mb, setup_django

LABELS = ["account_hold", "payment_review", "service_credit", "billing", "escalation", "technical"]
WORDS = ("invoice hold credit account payment refund order card outage escalate manager please urgent "
         "charged twice login error export report subscription pause travel review fraud transfer").split()


def write_jsonl(path: Path, count: int) -> None:
    rng = random.Random(7)
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
            out.write(json.dumps({"text": f"#{n} {text}", "label": rng.choice(LABELS), "ticket": n}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="50,000 records instead of 1,000,000")
    parser.add_argument("--records", type=int)
    args = parser.parse_args()
    count = args.records or (50_000 if args.quick else 1_000_000)

    work = setup_django()
    from django.core.files import File

    from apps.datasets.services import dataset_create, dataset_import_start
    from apps.projects.models import Project

    source = work / "records.jsonl"
    started = time.perf_counter()
    write_jsonl(source, count)
    megabytes = source.stat().st_size / 1e6
    print(f"generated {count:,} records ({megabytes:.0f} MB) in {time.perf_counter() - started:.1f} s")

    project = Project.objects.create(name=f"bench {time.time():.0f}", task_kind="classification", labels=LABELS)
    dataset = dataset_create(project=project, name="bench")
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    with open(source, "rb") as handle:
        result = dataset_import_start(dataset=dataset, upload=File(handle, name="records.jsonl"),
                                      file_format="jsonl", inline=True)
    seconds = time.perf_counter() - started
    assert result.status == "SUCCEEDED", (result.error, result.problems[:3])
    assert dataset.records.count() == count
    rate = count / seconds
    print(f"imported {result.records_imported:,} records in {seconds:.1f} s")
    print(f"peak RSS of the importing process: {peak_rss_mb():.0f} MB (before the import: {rss_before:.0f} MB)")
    project.delete()
    print(f"import_records: {rate:,.0f} records/s, peak RSS {peak_rss_mb():.0f} MB "
          "(target >= 20,000 records/s, < 300 MB)")


if __name__ == "__main__":
    main()
