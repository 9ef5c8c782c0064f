"""Real servers on the bundled model: llama.cpp's server and transformers serve, the demo classification prompt.

    python bench/real_servers.py            # 30 records per cell on llama.cpp, 12 on transformers serve
    python bench/real_servers.py --quick    # 8 and 4

For each server: the probe (its time and what it found), then for each structured-output method a run of the demo
project's plain prompt with and without the repair turn: the share of valid answers, and outputs/s at the chosen
concurrency (the model's default for a self-hosted server). The headline is the valid share on llama.cpp's server
with its recommended method and the repair turn (target 0.95), with transformers serve's figure beside it.
"""

import argparse
import tempfile
import time
from pathlib import Path

from _common import setup_django

METHODS = {
    "llama.cpp's server": ["llamacpp_schema", "grammar", "json_schema", "json_object", "prompt"],
    "transformers serve": ["prompt", "json_object", "json_schema"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="8 / 4 records per cell instead of 30 / 12")
    args = parser.parse_args()
    sizes = {"llama.cpp's server": 8 if args.quick else 30, "transformers serve": 4 if args.quick else 12}

    setup_django(database="taskllm_bench_servers", fresh=True)
    from django.core.management import call_command

    from tests.support import real_servers

    call_command("taskllm_setup", verbosity=0)
    logs = Path(tempfile.mkdtemp(prefix="taskllm-servers-"))
    headline = {}
    for name, starter in (("llama.cpp's server", real_servers.start_llama_cpp),
                          ("transformers serve", real_servers.start_transformers_serve)):
        started = time.perf_counter()
        server = starter(logs / f"{name.split()[0]}.log")
        print(f"\n## {name} ({server.base_url}, model id {server.model_id!r}; started in "
              f"{time.perf_counter() - started:.0f} s)")
        try:
            headline[name] = bench_server(server, METHODS[name], sizes[name])
        finally:
            server.stop()
    llama, transformers = headline["llama.cpp's server"], headline["transformers serve"]
    print(f"\nreal_servers: {llama:.2f} valid share on llama.cpp (target 0.95); transformers serve {transformers:.2f}")


def bench_server(server, methods: list[str], records: int) -> float:
    from apps.llm.probe import probe
    from apps.llm.selectors import probe_request

    project, version = _demo()
    model = _model(project, server, "json_schema")
    messages, schema = probe_request(project)
    started = time.perf_counter()
    report = probe(model, messages=messages, schema=schema, methods=methods)
    print(f"probe: {time.perf_counter() - started:.1f} s: {report.summary}")
    recommended = report.recommended or "prompt"
    print(f"\n{records} records per cell, concurrency {model.max_concurrency}\n")
    print("| method | repair | valid share | outputs/s | mean output tokens |")
    print("|---|---|---|---|---|")
    best = 0.0
    for method in methods:
        for repair in (False, True):
            share, rate, tokens = _run(project, version, _model(project, server, method), records, repair)
            print(f"| {method}{' (recommended)' if method == recommended else ''} | {'on' if repair else 'off'} | "
                  f"{share:.2f} | {rate:.2f} | {tokens:.0f} |", flush=True)
            if method == recommended and repair:
                best = share
    return best


def _demo():
    from apps.projects.models import Project
    from apps.prompts.models import PromptVersion

    project = Project.objects.get(name="Support ticket router (demo)")
    return project, PromptVersion.objects.get(template__project=project, template__name="Router: plain")


def _model(project, server, method):
    from apps.llm.providers import openai_compat
    from apps.llm.services import model_create

    openai_compat._json_object_only.clear()  # each cell measures its own method, not an earlier fallback
    return model_create(project=project, name=f"{server.name} · {method}", provider="openai",
                        base_url=server.base_url, model_id=server.model_id, max_tokens=64,
                        structured_output=method)


def _run(project, version, model, records: int, repair: bool) -> tuple[float, float, float]:
    from django.db.models import Avg

    from apps.runs.models import Run
    from apps.runs.services import run_create, run_execute

    run = run_create(project=project, prompt_version=version, model=model, dataset=project.datasets.get(),
                     concurrency=model.max_concurrency, repair=repair, launch=False)
    Run.objects.filter(id=run.id).update(record_ids=run.record_ids[:records], total=records)
    started = time.perf_counter()
    run_execute(run_id=run.id)
    seconds = time.perf_counter() - started
    outputs = run.outputs.all()
    valid = outputs.filter(status="ok").count()
    tokens = outputs.aggregate(n=Avg("output_tokens"))["n"] or 0
    return valid / records, records / seconds, tokens


if __name__ == "__main__":
    main()
