"""What a deployment adds to a model call, under gunicorn with PostgreSQL, against the fake server answering in 100 ms.

    python bench/gateway.py            # 300 sequential calls per endpoint, 20 s at concurrency 32, a 5 s outage
    python bench/gateway.py --quick    # 60 calls, 6 s, a 3 s outage

Processes: the fake OpenAI-compatible server (`python -m tests.support.fake_llm --delay 0.1`), a TCP proxy in
front of PostgreSQL (`tests/support/tcp_proxy.py`: it can cut the web processes off the database without
stopping PostgreSQL for anyone else), gunicorn (gthread workers, persistent database connections, DEBUG off),
and this client (asyncio, one HTTP connection per concurrent caller).

1. Added latency at concurrency 1: each endpoint's latency minus the direct call's (the same body sent straight
   to the fake server), at p50 and p95; targets p50 <= 3 ms, p95 <= 10 ms.
2. Throughput at concurrency 32 on the task endpoint, as a share of the ideal 320 calls/s (32 / 0.1 s);
   target >= 0.85.
3. Traces written vs calls answered, counted in the database after the load, for the runs above and for a run at
   concurrency 32 during which the database is unreachable for 5 s; target: equal.
"""

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, setup_django

DATABASE = "taskllm_bench_gateway"
DELAY = 0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def start(args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def make_deployment(llm_url: str) -> str:
    from django.contrib.auth import get_user_model

    from apps.accounts.models import Membership, Role
    from apps.deployments import services
    from apps.deployments.models import Deployment
    from apps.llm.models import Model
    from apps.projects.models import Project
    from apps.prompts.services import prompt_create

    Deployment.objects.filter(slug="bench-router").delete()
    admin, _ = get_user_model().objects.get_or_create(username="bench-admin")
    project = Project.objects.create(name="Gateway bench", task_kind="classification",
                                     labels=["billing", "technical", "account"])
    Membership.objects.create(project=project, user=admin, role=Role.ADMIN)
    model = Model.objects.create(project=project, name="Fake", provider="openai", base_url=llm_url,
                                 model_id="fake-1", timeout_seconds=10, max_retries=0)
    version = prompt_create(project=project, name="Router", system="Route the ticket. Labels: {labels}.",
                            user_template="Ticket: {text}").versions.get()
    deployment = services.deployment_create(project=project, slug="bench-router")
    services.promotion_create(deployment=deployment, model=model, prompt_version=version, reason="benchmark",
                              override_reason="benchmark set-up: no eval", user=admin)
    services.deployment_update(deployment=deployment, sample_share=0.0, sample_invalid=False)
    _, secret = services.key_create(deployment=deployment, name="bench")
    return secret


def traces_written() -> int:
    from apps.deployments.models import Trace

    return Trace.objects.filter(deployment__slug="bench-router").count()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Load:
    def __init__(self, web: str, llm: str, secret: str):
        import httpx2

        self.httpx = httpx2
        self.web, self.llm, self.secret = web, llm, secret
        self.ok = 0
        self.failed = 0

    def requests(self):
        text = "I was charged twice for my subscription this month"
        headers = {"Authorization": f"Bearer {self.secret}"}
        messages = [{"role": "system", "content": "Route the ticket. Labels: billing, technical, account."},
                    {"role": "user", "content": f"Ticket: {text}"}]
        return {
            "direct": (f"{self.llm}/chat/completions", {"model": "fake-1", "messages": messages}, {}),
            "predict": (f"{self.web}/api/deployments/bench-router/predict", {"text": text}, headers),
            "gateway": (f"{self.web}/v1/chat/completions", {"model": "bench-router", "messages": messages}, headers),
        }

    async def sequential(self, name: str, count: int) -> list[float]:
        url, body, headers = self.requests()[name]
        timings = []
        async with self.httpx.AsyncClient(timeout=30) as client:
            for _ in range(3):
                self._count(name, await client.post(url, json=body, headers=headers))
            for _ in range(count):
                started = time.perf_counter()
                response = await client.post(url, json=body, headers=headers)
                timings.append((time.perf_counter() - started) * 1000)
                self._count(name, response)
        return timings

    def _count(self, name: str, response) -> None:
        if name == "direct":
            return
        if response.status_code == 200:
            self.ok += 1
        else:
            self.failed += 1

    async def concurrent(self, name: str, callers: int, seconds: float, during=None) -> float:
        url, body, headers = self.requests()[name]
        deadline = time.perf_counter() + seconds
        done = 0

        async def caller(client):
            nonlocal done
            while time.perf_counter() < deadline:
                response = await client.post(url, json=body, headers=headers)
                self._count(name, response)
                done += 1

        # One client (a pool of `callers` connections): creating a client per caller costs more CPU than the calls.
        limits = self.httpx.Limits(max_connections=callers, max_keepalive_connections=callers)
        async with self.httpx.AsyncClient(timeout=30, limits=limits) as client:
            started = time.perf_counter()
            tasks = [asyncio.create_task(caller(client)) for _ in range(callers)]
            if during:
                tasks.append(asyncio.create_task(during()))
            await asyncio.gather(*tasks)
            return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    sequential, load_seconds, outage_seconds = (60, 6.0, 3.0) if args.quick else (300, 20.0, 5.0)

    os.environ["DJANGO_DEBUG"] = "false"  # as in production (no query log)
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "false"  # plain HTTP on loopback
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    setup_django(database=DATABASE, fresh=True)
    from django.conf import settings
    from django.db import connections

    database = settings.DATABASES["default"]
    llm_port, proxy_port, web_port = free_port(), free_port(), free_port()
    control = Path(tempfile.mkdtemp(prefix="taskllm-bench-gw-")) / "database-off"
    python = sys.executable
    processes = [
        start([python, "-m", "tests.support.fake_llm", "--delay", str(DELAY), "--port", str(llm_port)]),
        start([python, "-m", "tests.support.tcp_proxy", str(database["PORT"] or 5432), str(proxy_port),
               str(control)]),
    ]
    wait_port(llm_port)
    wait_port(proxy_port)
    llm_url = f"http://127.0.0.1:{llm_port}/v1"
    secret = make_deployment(llm_url)
    connections.close_all()
    user = f"{database['USER']}@" if database["USER"] else ""
    web_env = {"DATABASE_URL": f"postgres://{user}127.0.0.1:{proxy_port}/{database['NAME']}",
               "DATABASE_CONN_MAX_AGE": "60", "DJANGO_DEBUG": "false", "LOG_LEVEL": "WARNING",
               "TASKLLM_DEPLOYMENT_RATE_LIMIT_PER_MINUTE": "0", "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    gunicorn = str(Path(python).with_name("gunicorn"))
    processes.append(start([gunicorn, "taskllm_site.wsgi", "-b", f"127.0.0.1:{web_port}", "-k", "gthread",
                            "--workers", str(args.workers), "--threads", str(args.threads), "--backlog", "512",
                            "--graceful-timeout", "30"], web_env))
    wait_port(web_port)
    load = Load(f"http://127.0.0.1:{web_port}", llm_url, secret)
    try:
        run(load, sequential, load_seconds, outage_seconds, control)
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes:
            process.wait(timeout=60)


def run(load: Load, sequential: int, load_seconds: float, outage_seconds: float, control: Path) -> None:
    timings = {name: asyncio.run(load.sequential(name, sequential)) for name in ("direct", "predict", "gateway")}
    direct = timings["direct"]
    print(f"{'calls at concurrency 1':<26}{'p50 ms':>9}{'p95 ms':>9}{'added p50':>11}{'added p95':>11}")
    added = {}
    for name, values in timings.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        added[name] = (p50 - statistics.median(direct), p95 - percentile(direct, 0.95))
        print(f"{name:<26}{p50:>9.1f}{p95:>9.1f}{added[name][0]:>11.1f}{added[name][1]:>11.1f}")

    rate = asyncio.run(load.concurrent("predict", 32, load_seconds))
    share = rate / (32 / DELAY)
    print(f"concurrency 32, task endpoint: {rate:.0f} calls/s = {share:.2f} of the ideal {32 / DELAY:.0f}/s")
    steady_written = wait_for_traces(load.ok)
    steady_calls = load.ok
    print(f"traces written {steady_written} of {steady_calls} calls answered ({load.failed} calls failed)")

    async def outage():
        await asyncio.sleep(load_seconds / 3)
        control.touch()
        await asyncio.sleep(outage_seconds)
        control.unlink()

    failed_before = load.failed
    outage_rate = asyncio.run(load.concurrent("predict", 32, load_seconds, during=outage))
    outage_written = wait_for_traces(load.ok)
    outage_failed = load.failed - failed_before
    print(f"with the database unreachable for {outage_seconds:.0f} s: {outage_rate:.0f} calls/s, "
          f"{outage_failed} calls failed; traces written {outage_written} of {load.ok} calls answered")
    worst = max(added["predict"][0], added["gateway"][0]), max(added["predict"][1], added["gateway"][1])
    print(f"gateway: added p50 {worst[0]:.1f} ms, p95 {worst[1]:.1f} ms; {share:.2f} of ideal at concurrency 32; "
          f"traces {outage_written}/{load.ok} incl. a {outage_seconds:.0f} s database outage "
          f"(target p50 <= 3 ms, p95 <= 10 ms, >= 0.85 of ideal, traces = calls)")


def wait_for_traces(expected: int, seconds: float = 60) -> int:
    deadline = time.monotonic() + seconds
    written = traces_written()
    while written < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        written = traces_written()
    return written


if __name__ == "__main__":
    main()
