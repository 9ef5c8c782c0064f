#!/usr/bin/env python3
"""A CI gate against a TaskLLM server (standard library only).

Starts an eval of a model and prompt version (or of a deployment's candidate, against what it serves), waits with a
progress line, prints the result per training point (pass rate, 95% interval, verdict against the baseline) as text
and as Markdown (appended to $GITHUB_STEP_SUMMARY when set), and exits 0 when the gate passed, 1 when it failed,
2 when the eval could not run (HTTP error, failed or cancelled eval, timeout).

    python scripts/taskllm_gate.py --server https://taskllm.example.com --project 3 --model 5 --prompt-version 9 \
        --baseline 41
    python scripts/taskllm_gate.py --server https://taskllm.example.com --deployment 4

The token (a member's API token; leads may start evals) comes from --token or $TASKLLM_TOKEN.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

PASSED, FAILED, ERROR = 0, 1, 2
DONE = {"SUCCEEDED", "COMPLETED_WITH_ERRORS"}
STOPPED = {"FAILED", "CANCELLED"}


class GateError(Exception):
    pass


def call(server: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        server.rstrip("/") + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the server the user names
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise GateError(f"{method} {path} answered {exc.code}: {exc.read(2000).decode(errors='replace')}") from None
    except urllib.error.URLError as exc:
        raise GateError(f"Could not reach {server}: {exc.reason}") from None


def start(args) -> dict:
    if args.deployment:
        body = {"repeats": args.repeats}
        for name in ("model", "prompt_version"):
            if getattr(args, name):
                body[name] = getattr(args, name)
        return call(args.server, args.token, "POST", f"/api/deployments/{args.deployment}/candidate-eval/", body)
    if not (args.project and args.model and args.prompt_version):
        raise GateError("Give --project, --model and --prompt-version (or --deployment).")
    body = {"model": args.model, "prompt_version": args.prompt_version, "repeats": args.repeats,
            "note": args.note}
    if args.baseline:
        body["baseline"] = args.baseline
    if args.points:
        body["points"] = [int(p) for p in args.points.split(",")]
    return call(args.server, args.token, "POST", f"/api/projects/{args.project}/evals/", body)


def wait(args, eval_run: dict) -> dict:
    deadline = time.monotonic() + args.timeout
    while eval_run["status"] not in DONE | STOPPED:
        if time.monotonic() > deadline:
            raise GateError(f"Eval {eval_run['id']} did not finish within {args.timeout} s.")
        time.sleep(args.poll)
        eval_run = call(args.server, args.token, "GET", f"/api/evals/{eval_run['id']}/")
        progress = eval_run.get("progress") or {}
        print(f"eval {eval_run['id']}: {eval_run['status'].lower()} {progress.get('done', 0)}/{eval_run['total']}",
              flush=True)
    return eval_run


def rows(eval_run: dict) -> list[tuple]:
    return [(r["point_name"], f"{r['pass_rate']:.1%}", f"{r['ci_low']:.1%}–{r['ci_high']:.1%}",
             f"{r['test_cases_passed']}/{r['test_cases']}", r["verdict"] or "no baseline")
            for r in eval_run["results"]]


HEADER = ("Training point", "Pass rate", "95% interval", "Cases passed", "Verdict")


def text_summary(eval_run: dict, verdict: str) -> str:
    table = [HEADER, *rows(eval_run)]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(HEADER))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table]
    gate = eval_run["gate"]
    return "\n".join([f"TaskLLM gate {verdict}: eval {eval_run['id']} (threshold {gate['threshold']:.0%})", *lines,
                      *_reasons(gate)])


def markdown_summary(eval_run: dict, verdict: str, server: str) -> str:
    gate = eval_run["gate"]
    lines = [f"### TaskLLM gate {'✅' if verdict == 'passed' else '❌'} {verdict}",
             f"[Eval {eval_run['id']}]({server.rstrip('/')}/evals/{eval_run['id']}/) · threshold "
             f"{gate['threshold']:.0%}", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows(eval_run)]
    return "\n".join([*lines, "", *_reasons(gate)]) + "\n"


def _reasons(gate: dict) -> list[str]:
    reasons = []
    if gate.get("regressed"):
        reasons.append("Regressed: " + ", ".join(gate["regressed"]))
    if gate.get("below_threshold"):
        reasons.append("Below the threshold: " + ", ".join(gate["below_threshold"]))
    return reasons


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("TASKLLM_URL", ""), help="default: $TASKLLM_URL")
    parser.add_argument("--token", default=os.environ.get("TASKLLM_TOKEN", ""), help="default: $TASKLLM_TOKEN")
    parser.add_argument("--project", type=int)
    parser.add_argument("--model", type=int)
    parser.add_argument("--prompt-version", type=int)
    parser.add_argument("--baseline", type=int, help="the eval run to compare with")
    parser.add_argument("--points", help="training point ids, comma-separated (default: all test cases)")
    parser.add_argument("--deployment", type=int, help="evaluate this deployment's candidate against what it serves")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--note", default="CI gate")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the eval")
    parser.add_argument("--poll", type=float, default=5, help="seconds between progress checks")
    args = parser.parse_args(argv)
    if not args.server or not args.token:
        parser.error("give --server and --token (or $TASKLLM_URL and $TASKLLM_TOKEN)")
    try:
        eval_run = wait(args, start(args))
    except GateError as exc:
        print(f"TaskLLM gate error: {exc}", file=sys.stderr)
        return ERROR
    if eval_run["status"] in STOPPED:
        print(f"TaskLLM gate error: eval {eval_run['id']} {eval_run['status'].lower()}: {eval_run.get('error', '')}",
              file=sys.stderr)
        return ERROR
    verdict = "passed" if eval_run["gate"]["passed"] else "failed"
    print(text_summary(eval_run, verdict))
    markdown = markdown_summary(eval_run, verdict, args.server)
    print("\n" + markdown)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
            summary.write(markdown)
    return PASSED if verdict == "passed" else FAILED


if __name__ == "__main__":
    sys.exit(main())
