"""Dashboard matrix server time at 1,000,000 scored eval outputs, and eval worker memory over 100,000 test cases.

    python bench/dashboard.py                  # 1,000,000 outputs (a few minutes to fill once), 100,000 cases
    python bench/dashboard.py --quick          # 100,000 outputs, 10,000 cases
    python bench/dashboard.py --part matrix    # only the dashboard part (--part memory: only the worker part)
    python bench/dashboard.py --fresh          # fill the dashboard database anew even if it holds the data

Matrix: a PostgreSQL database of its own (taskllm_bench_dashboard) holds a classification project with
50 training points, 1,000 test cases (20 per point), 20 finished evals (4 models x 5 prompts, each with
the one before as baseline) and their scored outputs, filled by COPY; it is kept between runs and filled
again only when it does not hold this size (or with --fresh). Each eval's results are computed in the
database (results_compute, timed) and its verdicts set; then the dashboard page, the matrix selector,
the per-label view (F1 per label across the same columns) and the JSON API are timed in-process (server
time, no network) with DEBUG off.

Memory: a process of its own (so its peak RSS is the eval's) with a database of its own
(taskllm_bench_eval_memory, made anew) runs eval_execute over 100,000 test cases x 1 repeat against the
fake OpenAI-compatible server, itself in another process (its memory is not counted), sampling RSS
every 0.5 s.
"""

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import warnings

from _common import ROOT, ensure_database, peak_rss_mb, setup_django

MATRIX_DB = "taskllm_bench_dashboard"
MEMORY_DB = "taskllm_bench_eval_memory"
POINTS = 50
CASES_PER_POINT = 20
MODELS = 4
PROMPTS = 5
SAMPLES = 50
WARMUPS = 3
LABELS = ["account_hold", "payment_review", "service_credit", "billing", "escalation", "technical"]
CREATED_AT = "2026-11-27T00:00:00Z"


def django_env() -> None:
    os.environ["DJANGO_DEBUG"] = "false"  # no query log, templates as in production
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")  # the test client speaks plain HTTP in-process
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic here, no matter


def summary(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def timed(fn, samples: int = SAMPLES, warmups: int = WARMUPS) -> list[float]:
    for _ in range(warmups):
        fn()
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# --- part 1: the dashboard matrix --------------------------------------------------------------

def matrix_name(total: int) -> str:
    return f"bench dashboard {total}"


def matrix_is_filled(total: int) -> bool:
    from apps.evals.models import EvalOutput, EvalRun
    from apps.projects.models import Project

    project = Project.objects.filter(name=matrix_name(total)).first()
    if project is None or Project.objects.count() != 1:
        return False
    evals = EvalRun.objects.filter(project=project, status="SUCCEEDED").count()
    return evals == MODELS * PROMPTS and EvalOutput.objects.filter(eval_run__project=project).count() == total


def matrix_fill(total: int):
    """One classification project with its points, cases, 20 finished evals and `total` scored outputs."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from apps.accounts.models import Membership
    from apps.evals.models import EvalOutput, EvalRun
    from apps.evals.scoring import answer_key
    from apps.llm.models import Model
    from apps.projects.models import Project
    from apps.prompts.services import prompt_create
    from apps.review.models import TestCase, TrainingPoint

    rng = random.Random(20261127)
    lead, _ = get_user_model().objects.get_or_create(username="bench-lead")
    project = Project.objects.create(name=matrix_name(total), task_kind="classification", labels=LABELS)
    Membership.objects.create(project=project, user=lead, role="lead")
    points = TrainingPoint.objects.bulk_create(
        TrainingPoint(project=project, name=f"point {n:02d}: treats 'hold' loosely ({n})") for n in range(POINTS))
    cases = TestCase.objects.bulk_create(
        TestCase(project=project, text=f"Case {n}: please put a hold on my account, the invoice is wrong.",
                 text_hash=f"bench-{n}", expected={"label": LABELS[n % len(LABELS)]})
        for n in range(POINTS * CASES_PER_POINT))
    point_of = {case.id: points[i // CASES_PER_POINT] for i, case in enumerate(cases)}
    TestCase.points.through.objects.bulk_create(
        TestCase.points.through(testcase_id=case_id, trainingpoint_id=point.id) for case_id, point in point_of.items())
    case_ids = [case.id for case in cases]
    repeats = max(1, total // (MODELS * PROMPTS * len(case_ids)))
    models = [Model.objects.create(project=project, name=f"bench model {m}", provider="openai",
                                   base_url="http://127.0.0.1:9/v1", model_id=f"m{m}") for m in range(MODELS)]
    versions = [prompt_create(project=project, name=f"bench prompt {p}").versions.get() for p in range(PROMPTS)]
    keys = {label: answer_key(project, {"label": label}, valid=True) for label in LABELS}
    columns = ["eval_run_id", "test_case_id", "repeat", "raw_text", "answer", "answer_key", "status", "problems",
               "error", "passed", "score", "judge_reason", "latency_ms", "input_tokens", "output_tokens", "created_at"]
    now = timezone.now()
    evals, baseline = [], None
    for index, (model, version) in enumerate((m, v) for v in versions for m in models):
        eval_run = EvalRun.objects.create(
            project=project, model=model, prompt_version=version, test_case_ids=case_ids, repeats=repeats,
            concurrency=16, baseline=baseline, status="SUCCEEDED", total=len(case_ids) * repeats, attempts=1,
            started_at=now, finished_at=now + datetime.timedelta(minutes=index), heartbeat_at=now, created_by=lead)
        evals.append(eval_run)
        baseline = eval_run

        def rows(eval_run=eval_run, index=index):
            for n, case_id in enumerate(case_ids):
                point_index = n // CASES_PER_POINT
                # Pass rate from 25% to 95% by point, a little better with each version, some points regress.
                rate = 0.25 + 0.7 * point_index / (POINTS - 1) + (0.01 * index if point_index % 7 else -0.01 * index)
                rate = min(0.98, max(0.02, rate))
                expected = LABELS[n % len(LABELS)]
                wrong = LABELS[(n + 1 + point_index % 3) % len(LABELS)]
                for repeat in range(repeats):
                    passed = rng.random() < rate
                    label = expected if passed else (wrong if rng.random() < 0.7 else rng.choice(LABELS))
                    answer = f'{{"label": "{label}"}}'
                    yield (eval_run.id, case_id, repeat, "", answer, keys[label], "ok", "[]", "", passed,
                           float(passed), "", rng.randint(50, 900), rng.randint(80, 160), rng.randint(4, 9), CREATED_AT)

        with connection.cursor() as cursor:
            copy_rows(cursor.cursor, EvalOutput._meta.db_table, columns, rows())
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {EvalOutput._meta.db_table}")
    return project


def matrix_part(total: int, fresh: bool) -> dict:
    from django.db import connection

    setup_django(database=MATRIX_DB, fresh=fresh)
    if fresh or not matrix_is_filled(total):
        if not fresh:  # another size, or an interrupted fill: start from an empty database
            from django.core.management import call_command

            connection.close()
            ensure_database(os.environ["DATABASE_URL"], fresh=True)
            call_command("migrate", verbosity=0)
        started = time.perf_counter()
        matrix_fill(total)
        print(f"filled {total:,} eval outputs in {time.perf_counter() - started:.0f} s")
    else:
        print(f"database {MATRIX_DB} already holds {total:,} eval outputs: not filled again (--fresh to refill)")

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    from apps.evals import selectors
    from apps.evals.models import EvalRun, PointResult
    from apps.evals.results import results_compute, verdicts_update
    from apps.projects.models import Project

    assert not settings.DEBUG, "DEBUG must be off: it records every query"
    project = Project.objects.get(name=matrix_name(total))
    evals = list(EvalRun.objects.filter(project=project).select_related("project", "baseline").order_by("id"))
    per_eval = total // len(evals)
    compute_ms = []
    for eval_run in evals:  # oldest first, so each baseline has its results before its dependant's verdicts
        started = time.perf_counter()
        results_compute(eval_run)
        compute_ms.append((time.perf_counter() - started) * 1000)
        verdicts_update(eval_run)
    assert PointResult.objects.filter(eval_run__project=project).count() == len(evals) * (POINTS + 1)
    assert PointResult.objects.filter(eval_run__project=project).exclude(verdict="").exists()
    compute_p50, compute_max = statistics.median(compute_ms), max(compute_ms)
    print(f"results_compute: p50 {compute_p50:.0f} ms per eval of {per_eval:,} outputs "
          f"(max {compute_max:.0f} ms, {len(evals)} evals)")

    lead = get_user_model().objects.get(username="bench-lead")
    grid = selectors.matrix(project)
    assert len(grid["columns"]) == len(evals) and len(grid["rows"]) == POINTS, "the matrix is not full"
    matrix_p50, matrix_p95 = summary(timed(lambda: selectors.matrix(project)))
    print(f"matrix selector: p50 {matrix_p50:.1f} ms, p95 {matrix_p95:.1f} ms")
    labels = selectors.label_matrix(project, grid["columns"])
    assert len(labels["rows"]) == len(LABELS), "the per-label view is not full"
    labels_p50, labels_p95 = summary(timed(lambda: selectors.label_matrix(project, grid["columns"])))
    print(f"per-label view (label_matrix, {len(LABELS)} labels x {len(evals)} versions): p50 {labels_p50:.1f} ms, "
          f"p95 {labels_p95:.1f} ms")

    client = Client()
    client.force_login(lead)
    url = reverse("evals:dashboard", args=[project.id])

    def page():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    page_p50, page_p95 = summary(timed(page))
    size = len(client.get(url).content)
    print(f"dashboard page: p50 {page_p50:.1f} ms, p95 {page_p95:.1f} ms ({size / 1024:.0f} KiB of HTML, "
          f"{POINTS} points x {len(evals)} versions, {total:,} outputs)")

    def label_view():
        response = client.get(url, headers={"HX-Request": "true", "HX-Target": "label-view"})
        assert response.status_code == 200 and b'id="label-matrix"' in response.content, (url, response.status_code)

    view_p50, view_p95 = summary(timed(label_view, samples=SAMPLES // 5))
    print(f"dashboard per-label view (htmx, after the page): p50 {view_p50:.1f} ms, p95 {view_p95:.1f} ms")

    api = APIClient()
    api.force_authenticate(lead)
    api_url = reverse("api-dashboard", args=[project.id])

    def api_get():
        response = api.get(api_url)
        assert response.status_code == 200, (api_url, response.status_code)

    api_p50, api_p95 = summary(timed(api_get))
    print(f"dashboard api: p50 {api_p50:.1f} ms, p95 {api_p95:.1f} ms")
    return {"page_p95": page_p95, "total": total}


# --- part 2: the eval worker's memory ----------------------------------------------------------

def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    """Every 0.5 s: (seconds, RSS MB, peak RSS so far MB, outputs saved), the count read on a connection of its own."""

    def __init__(self, eval_id: int):
        super().__init__(daemon=True)
        self.eval_id = eval_id
        self.samples: list[tuple[float, float, float, int]] = []
        self.halt = threading.Event()
        self.started_at = time.perf_counter()

    def run(self) -> None:
        from django.db import connection

        from apps.evals.models import EvalOutput

        try:
            while True:
                done = EvalOutput.objects.filter(eval_run_id=self.eval_id).count()
                self.samples.append((time.perf_counter() - self.started_at, rss_mb(), peak_rss_mb(), done))
                if self.halt.wait(0.5):
                    break
        finally:
            connection.close()

    def at(self, done: int) -> float:
        """The RSS of the first sample with at least `done` outputs saved."""
        return next((rss for _, rss, _, n in self.samples if n >= done), self.samples[-1][1])

    def peak_while_answering(self, total: int) -> float:
        """The process's peak RSS up to the last sample before every output was saved."""
        return max((peak for _, _, peak, n in self.samples if n < total), default=0.0)


def memory_part(cases: int) -> None:
    setup_django(database=MEMORY_DB, fresh=True)
    from django.db import connection

    from apps.evals.models import EvalRun
    from apps.evals.services import eval_create, eval_execute
    from apps.llm.models import Model
    from apps.projects.models import Project
    from apps.prompts.services import prompt_create
    from apps.review.models import TestCase, TrainingPoint

    project = Project.objects.create(name=f"bench eval memory {cases}", task_kind="classification", labels=LABELS)
    point = TrainingPoint.objects.create(project=project, name="treats 'hold' in its everyday sense")
    text = "Please put a hold on my account while I travel; the invoice is also wrong. " * 3
    with connection.cursor() as cursor:  # COPY, so filling leaves no peak in this process's RSS
        copy_rows(cursor.cursor, TestCase._meta.db_table,
                  ["project_id", "text", "text_hash", "expected", "paraphrase_group", "created_at"],
                  ((project.id, f"#{n} {text}", f"bench-{n}", json.dumps({"label": LABELS[n % len(LABELS)]}), "",
                    CREATED_AT) for n in range(cases)))
        cursor.execute(f"INSERT INTO {TestCase.points.through._meta.db_table} (testcase_id, trainingpoint_id) "
                       f"SELECT id, %s FROM {TestCase._meta.db_table} WHERE project_id = %s", [point.id, project.id])
        cursor.execute("ANALYZE")
    process = subprocess.Popen([sys.executable, "-m", "tests.support.fake_llm", "--delay", "0.0"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        model = Model.objects.create(project=project, name="fake", provider="openai", base_url=base_url,
                                     model_id="fake", max_retries=2, timeout_seconds=10)
        version = prompt_create(project=project, name="bench").versions.get()
        eval_run = eval_create(project=project, model=model, prompt_version=version, repeats=1, concurrency=16,
                               launch=False)
        sampler = Sampler(eval_run.id)
        start_rss, peak_before = rss_mb(), peak_rss_mb()
        sampler.start()
        started = time.perf_counter()
        eval_execute(eval_id=eval_run.id)
        seconds = time.perf_counter() - started
        sampler.halt.set()
        sampler.join()
    finally:
        process.terminate()
        process.wait()
    eval_run = EvalRun.objects.get(id=eval_run.id)
    done = eval_run.outputs.count()
    assert eval_run.status == "SUCCEEDED" and done == cases, (eval_run.status, eval_run.error, done)
    ok = eval_run.outputs.filter(status="ok").count()
    peak = max(peak_rss_mb(), max(rss for _, rss, _, _ in sampler.samples))
    answering = sampler.peak_while_answering(cases)
    step = max(1, len(sampler.samples) // 12)
    shown = sampler.samples[::step] + sampler.samples[-1:]
    timeline = ", ".join(f"{t:.0f}s {rss:.0f}MB {n:,}" for t, rss, _, n in shown)
    print(f"eval worker timeline (seconds, RSS, outputs saved): {timeline}")
    print(f"eval worker peak RSS: {peak_before:.0f} MB before eval_execute (set-up, eval_create), {answering:.0f} MB "
          f"while answering, {peak:.0f} MB at the end (after the last output: results_compute, verdicts)")
    print(f"eval worker: {cases:,} outputs ({ok:,} ok) in {seconds:.1f} s ({cases / seconds:.0f} outputs/s), "
          f"RSS start {start_rss:.0f} MB, at 10% {sampler.at(cases // 10):.0f}, 50% {sampler.at(cases // 2):.0f}, "
          f"90% {sampler.at(cases * 9 // 10):.0f}, end {rss_mb():.0f}, peak {peak:.0f} MB (target < 300 MB; "
          "the fake server runs in a process of its own, not counted)")


def memory_in_subprocess(quick: bool) -> str:
    """Run the memory part in a fresh process, so the matrix part's memory is not in its peak RSS."""
    command = [sys.executable, __file__, "--part", "memory"] + (["--quick"] if quick else [])
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"the memory part failed ({result.returncode})")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100,000 outputs and 10,000 test cases")
    parser.add_argument("--part", choices=["all", "matrix", "memory"], default="all")
    parser.add_argument("--fresh", action="store_true", help="fill the dashboard database anew")
    args = parser.parse_args()
    django_env()
    if args.part == "memory":
        memory_part(10_000 if args.quick else 100_000)
        return
    memory_lines = memory_in_subprocess(args.quick) if args.part == "all" else ""
    result = matrix_part(100_000 if args.quick else 1_000_000, args.fresh)
    sys.stdout.write(memory_lines)
    print(f"dashboard: {result['page_p95']:.1f} ms (target 200 ms)")


if __name__ == "__main__":
    main()
