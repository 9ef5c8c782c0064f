import pytest

from apps.core.exceptions import ApplicationError
from apps.deployments import analytics, services
from apps.deployments.models import DeploymentKey, Promotion
from apps.deployments.selectors import key_hash
from apps.llm.models import Model

from .conftest import finished_eval


def test_promotion_records_who_why_and_the_passing_eval(deployment, people):
    promotion = deployment.current_promotion
    assert promotion.promoted_by == people["lead"]
    assert promotion.reason == "First version"
    assert promotion.eval_run.gate_passed is True
    assert deployment.model == promotion.model and deployment.prompt_version == promotion.prompt_version


def test_lead_cannot_promote_when_the_gate_failed(deployment, project, people, prompt_version):
    other = Model.objects.create(project=project, name="Tuned", provider="openai", base_url="http://x/v1")
    finished_eval(project, other, prompt_version, passed=False)
    with pytest.raises(ApplicationError, match="passed its gate"):
        services.promotion_create(deployment=deployment, model=other, prompt_version=prompt_version,
                                  reason="try", user=people["lead"])
    assert deployment.promotions.count() == 1


def test_a_passed_eval_of_another_prompt_version_does_not_count(deployment, project, people, remote_model):
    from apps.prompts.services import prompt_create

    other_version = prompt_create(project=project, name="Other", system="", user_template="{text}").versions.get()
    with pytest.raises(ApplicationError):
        services.promotion_create(deployment=deployment, model=remote_model, prompt_version=other_version,
                                  reason="try", user=people["lead"])


def test_admin_override_needs_a_written_reason_and_is_recorded(deployment, project, people, prompt_version):
    other = Model.objects.create(project=project, name="Tuned", provider="openai", base_url="http://x/v1")
    with pytest.raises(ApplicationError, match="written reason"):
        services.promotion_create(deployment=deployment, model=other, prompt_version=prompt_version,
                                  reason="urgent", user=people["admin"])
    promotion = services.promotion_create(deployment=deployment, model=other, prompt_version=prompt_version,
                                          reason="urgent", override_reason="The old model is down",
                                          user=people["admin"])
    deployment.refresh_from_db()
    assert deployment.model == other
    assert promotion.override_reason == "The old model is down"


def test_rollback_restores_an_earlier_promotion_in_one_action(deployment, project, people, prompt_version):
    first = deployment.current_promotion
    other = Model.objects.create(project=project, name="Tuned", provider="openai", base_url="http://x/v1")
    finished_eval(project, other, prompt_version, passed=True)
    services.promotion_create(deployment=deployment, model=other, prompt_version=prompt_version, reason="better",
                              user=people["lead"])
    rollback = services.promotion_rollback(deployment=deployment, to=first, user=people["lead"])
    deployment.refresh_from_db()
    assert deployment.model == first.model
    assert rollback.rollback_of == first and deployment.current_promotion == rollback
    assert Promotion.objects.filter(deployment=deployment).count() == 3


def test_slugs_are_unique(deployment, project):
    with pytest.raises(ApplicationError, match="taken"):
        services.deployment_create(project=project, slug="ticket-router")


def test_key_is_stored_only_as_a_hash(deployment):
    key, secret = services.key_create(deployment=deployment, name="App")
    stored = DeploymentKey.objects.get(id=key.id)
    assert secret not in (stored.key_hash, stored.prefix)
    assert stored.key_hash == key_hash(secret)


def test_psi_is_zero_for_equal_shares_and_grows_with_change():
    assert analytics.psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0
    # (0.8-0.5)ln(0.8/0.5) + (0.2-0.5)ln(0.2/0.5) = 0.1410 + 0.2749
    assert analytics.psi({"a": 0.5, "b": 0.5}, {"a": 0.8, "b": 0.2}) == pytest.approx(0.4159, abs=1e-4)


def test_traces_whose_sampling_failed_are_sampled_by_the_periodic_task(deployment):
    from django.utils import timezone

    from apps.deployments.models import Trace
    from apps.deployments.tasks import traces_sample_pending_task

    trace = Trace.objects.create(deployment=deployment, endpoint="predict", text="late", status="ok",
                                 answer={"label": "billing"}, model=deployment.model,
                                 prompt_version=deployment.prompt_version, sampled_reason="random share",
                                 created_at=timezone.now())
    assert traces_sample_pending_task() == 1
    trace.refresh_from_db()
    assert trace.review_output_id is not None
    assert traces_sample_pending_task() == 0


def test_a_served_model_cannot_be_deleted_but_its_project_can(deployment, project):
    from django.db.models import RestrictedError

    with pytest.raises(RestrictedError):
        deployment.model.delete()
    project.delete()
    assert not type(deployment).objects.filter(id=deployment.id).exists()


def test_promotions_and_keys_are_audited(deployment, people):
    from apps.accounts.models import AuditEvent

    key, _ = services.key_create(deployment=deployment, name="App", user=people["lead"])
    services.key_revoke(key=key, user=people["lead"])
    actions = list(AuditEvent.objects.filter(project=deployment.project).values_list("action", "actor__username"))
    assert ("deployment.promote", "lead") in actions
    assert ("deployment.key_create", "lead") in actions and ("deployment.key_revoke", "lead") in actions
