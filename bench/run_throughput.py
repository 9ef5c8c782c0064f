"""Run throughput: 2,000 records against an OpenAI-compatible server that answers in a fixed 100 ms.

    python bench/run_throughput.py            # 2,000 records, concurrency 32
    python bench/run_throughput.py --quick    # 400 records

The fake server runs in a process of its own; this process executes the run as a worker
would (run_execute), saving every output to PostgreSQL. Ideal: concurrency / 0.1 s outputs/s.
"""

import argparse
import subprocess
import sys
import time

from _common import ROOT, peak_rss_mb, setup_django

DELAY_SECONDS = 0.1


def start_server() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "tests.support.fake_llm", "--delay", str(DELAY_SECONDS)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="400 records instead of 2,000")
    parser.add_argument("--records", type=int)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    count = args.records or (400 if args.quick else 2000)

    setup_django()
    from apps.datasets.models import Dataset, Record
    from apps.llm.models import Model
    from apps.projects.models import Project
    from apps.prompts.services import prompt_create
    from apps.runs.services import run_create, run_execute

    server, base_url = start_server()
    try:
        project = Project.objects.create(name=f"throughput {time.time():.0f}", task_kind="classification",
                                         labels=["billing", "technical"])
        dataset = Dataset.objects.create(project=project, name="bench")
        Record.objects.bulk_create(Record(dataset=dataset, position=n, text=f"Ticket {n}: the invoice is wrong")
                                   for n in range(count))
        model = Model.objects.create(project=project, name="fake", provider="openai", base_url=base_url,
                                     model_id="fake", max_retries=2, timeout_seconds=10)
        version = prompt_create(project=project, name="bench").versions.get()
        run = run_create(project=project, prompt_version=version, model=model, dataset=dataset,
                         concurrency=args.concurrency, launch=False)
        started = time.perf_counter()
        run = run_execute(run_id=run.id)
        seconds = time.perf_counter() - started
        assert run.status == "SUCCEEDED" and run.outputs.filter(status="ok").count() == count, run.error
        rate = count / seconds
        ideal = args.concurrency / DELAY_SECONDS
        print(f"{count} outputs in {seconds:.1f} s at concurrency {args.concurrency} "
              f"({DELAY_SECONDS * 1000:.0f} ms answers)")
        print(f"throughput {rate:.0f} outputs/s; ideal {ideal:.0f} outputs/s; peak RSS {peak_rss_mb():.0f} MB")
        from django.db.models import Avg
        print("mean latency ms", run.outputs.aggregate(m=Avg("latency_ms"))["m"])
        project.runs.all().delete()
        project.delete()
        print(f"run_throughput: {rate / ideal:.2f} of ideal ({rate:.0f} outputs/s, peak RSS {peak_rss_mb():.0f} MB) "
              "(target >= 0.90)")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
