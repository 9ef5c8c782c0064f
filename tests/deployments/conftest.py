import pytest
from django.utils import timezone

from apps.core.models import JobStatus
from apps.deployments import services
from apps.deployments.selectors import forget_keys
from apps.deployments.trace_buffer import BUFFER
from apps.evals.models import EvalRun


@pytest.fixture(autouse=True)
def _traces_written_on_demand(settings):
    """No writer thread: a test writes the buffer with flush() on its own thread (and its transaction)."""
    settings.TASKLLM_TRACE_FLUSH_SECONDS = 0
    BUFFER._pending.clear()
    BUFFER.lost.clear()
    forget_keys()
    yield
    BUFFER._pending.clear()
    BUFFER.lost.clear()


def finished_eval(project, model, version, *, passed: bool) -> EvalRun:
    return EvalRun.objects.create(project=project, model=model, prompt_version=version, test_case_ids=[],
                                  status=JobStatus.SUCCEEDED, gate_passed=passed, finished_at=timezone.now())


@pytest.fixture
def deployment(project, people, remote_model, prompt_version):
    project.labels = ["billing", "technical"]
    project.save()
    deployment = services.deployment_create(project=project, slug="ticket-router", user=people["lead"])
    finished_eval(project, remote_model, prompt_version, passed=True)
    services.promotion_create(deployment=deployment, model=remote_model, prompt_version=prompt_version,
                              reason="First version", user=people["lead"])
    deployment.sample_share = 0.0
    deployment.save()
    return deployment


@pytest.fixture
def key(deployment, people):
    key, secret = services.key_create(deployment=deployment, name="App", user=people["lead"])
    key.secret = secret
    return key


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
