"""schemathesis against the live test server's /api/schema/ with a token: no server errors, responses as documented.

Seeded and bounded (examples per operation, a time budget) so it stays a few minutes inside `make test`.
TASKLLM_FUZZ_EXAMPLES and TASKLLM_FUZZ_CHECKS widen a run by hand; the report lands in test-artifacts/.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from apps.accounts.models import Role
from apps.core.models import JobStatus
from apps.llm.models import Model
from apps.prompts.services import prompt_create
from apps.review.models import ParaphraseProposal, ParaphraseRequest, TrainingPoint
from apps.review.services import test_case_create as add_test_case
from tests.factories import DatasetFactory, MembershipFactory, ProjectFactory, RecordFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TASKLLM_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHECKS = os.environ.get("TASKLLM_FUZZ_CHECKS", "not_a_server_error,response_schema_conformance")
EXAMPLES = os.environ.get("TASKLLM_FUZZ_EXAMPLES", "8")


def seed_data():
    """A project the fuzzing user leads, with a little of everything, so ids in paths often exist."""
    user = UserFactory(username="fuzzer", is_superuser=True, is_staff=True)
    project = ProjectFactory(name="Fuzzed")
    MembershipFactory(project=project, user=user, role=Role.ADMIN)
    dataset = DatasetFactory(project=project, name="Fuzz data")
    RecordFactory.create_batch(3, dataset=dataset)
    model = Model.objects.create(project=project, name="Bundled", provider="local")
    prompt_create(project=project, name="Router", user_template="Ticket: {text}")
    TrainingPoint.objects.create(project=project, name="refunds")
    case = add_test_case(project=project, text="Refund my order", expected={"label": "billing"})
    request = ParaphraseRequest.objects.create(test_case=case, model=model, status=JobStatus.SUCCEEDED)
    ParaphraseProposal.objects.create(request=request, test_case=case, text="Give me my money back")
    return Token.objects.create(user=user).key


@pytest.mark.fuzz
@pytest.mark.django_db(transaction=True)
def test_the_api_survives_schemathesis(live_server, settings):
    settings.TASKLLM_MODEL_HOSTS_ALLOW = ["fuzz.invalid"]  # never resolves: model requests while fuzzing go nowhere
    token = seed_data()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / "schemathesis.json"
    command = [
        str(Path(sys.executable).parent / "st"), "run", f"{live_server.url}/api/schema/",
        "-H", f"Authorization: Token {token}", "--checks", CHECKS, "--max-examples", EXAMPLES, "--seed", "12",
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--max-time", "120", "--no-shrink",
        "--generation-database", "none", "--request-timeout", "10", "--no-color",
        "--report", "json", "--report-json-path", str(report),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=420, cwd=ROOT)
    summary = result.stdout[-6000:]
    (ARTIFACTS / "schemathesis.txt").write_text(result.stdout + result.stderr)
    print(summary)
    assert result.returncode == 0, summary + result.stderr[-2000:]
    assert "operations" in summary.lower() or report.exists()
    if report.exists():
        json.loads(report.read_text())
