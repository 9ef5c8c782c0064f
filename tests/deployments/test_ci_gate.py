"""scripts/taskllm_gate.py run as CI runs it: a subprocess against a live test server, with a lead's API token."""

import subprocess
import sys
from pathlib import Path

import pytest

from apps.accounts.services import api_token_get_or_create
from tests.deployments.test_watch import eager_tasks  # noqa: F401 - fixture
from tests.deployments.watching import promoted_deployment
from tests.evals.conftest import cases, points, scripted  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)
GATE = Path(__file__).resolve().parents[2] / "scripts" / "taskllm_gate.py"


def gate(live_server, token: str, tmp_path, *arguments) -> subprocess.CompletedProcess:
    summary = tmp_path / "summary.md"
    return subprocess.run([sys.executable, str(GATE), "--server", live_server.url, "--poll", "0.2", "--timeout", "60",
                           *arguments], capture_output=True, text=True, timeout=120,
                          env={"TASKLLM_TOKEN": token, "GITHUB_STEP_SUMMARY": str(summary), "PATH": "/usr/bin:/bin"})


@pytest.fixture
def setup(project, people, remote_model, prompt_version, cases, llm_server, eager_tasks,  # noqa: F811
          django_capture_on_commit_callbacks):
    project.pass_threshold = 0.5
    project.save()
    llm_server.answer = scripted({c.text: ["escalation"] for c in cases[:4]} |
                                 {c.text: ["technical"] for c in cases[4:]})
    deployment, baseline = promoted_deployment(project, people, remote_model, prompt_version,
                                               django_capture_on_commit_callbacks)
    return deployment, baseline, api_token_get_or_create(user=people["lead"]).key


def test_the_gate_exits_0_when_the_candidate_holds_and_writes_a_job_summary(live_server, setup, project, remote_model,
                                                                            prompt_version, tmp_path):
    deployment, baseline, token = setup
    done = gate(live_server, token, tmp_path, "--project", str(project.id), "--model", str(remote_model.id),
                "--prompt-version", str(prompt_version.id), "--baseline", str(baseline.id), "--repeats", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TaskLLM gate passed" in done.stdout and "hold is a pause" in done.stdout
    summary = (tmp_path / "summary.md").read_text()
    assert "| hold is a pause | 100.0% |" in summary and "unchanged" in summary


def test_the_gate_exits_1_when_a_deployments_candidate_regresses(live_server, setup, cases, llm_server,  # noqa: F811
                                                                 tmp_path):
    deployment, baseline, token = setup
    llm_server.answer = scripted({c.text: ["technical"] for c in cases})
    done = gate(live_server, token, tmp_path, "--deployment", str(deployment.id), "--repeats", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "TaskLLM gate failed" in done.stdout and "Regressed: hold is a pause" in done.stdout
    assert "regressed" in (tmp_path / "summary.md").read_text()


def test_the_gate_exits_2_on_a_wrong_token(live_server, setup, project, tmp_path):
    done = gate(live_server, "not-a-token", tmp_path, "--project", str(project.id), "--model", "1",
                "--prompt-version", "1")
    assert done.returncode == 2 and "401" in done.stderr
