"""Writes for deployments: create, promote (only on a passed gate, or an admin's written override), roll back,
keys (shown once, stored hashed, revocable), end-user feedback, and sampling traces into review."""

import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.audit import audit_record
from apps.accounts.models import Role
from apps.accounts.selectors import role_in_project
from apps.core.exceptions import ApplicationError
from apps.datasets.services import dataset_create, record_append
from apps.evals.selectors import finished_evals
from apps.projects.kinds import answer_problems
from apps.runs.services import output_append, run_for_traffic

from .models import Deployment, DeploymentKey, Feedback, Promotion, Thumbs, Trace
from .selectors import forget_keys, key_hash

KEY_PREFIX = "tlk_"


# --- deployments and promotions ----------------------------------------------------------

def deployment_create(*, project, slug: str, description: str = "", user=None) -> Deployment:
    slug = slugify(slug)
    if not slug:
        raise ApplicationError("Give the deployment a slug: letters, digits and dashes, e.g. ticket-router.")
    if Deployment.objects.filter(slug=slug).exists():
        raise ApplicationError(f"The slug '{slug}' is taken: choose another (slugs are unique across the site).")
    return Deployment.objects.create(project=project, slug=slug, description=description, created_by=user)


def deployment_update(*, deployment: Deployment, **fields) -> Deployment:
    """Change the shadow candidate and the sampling rules (never what the deployment serves: that is a promotion)."""
    allowed = {"description", "shadow_model", "shadow_prompt_version", "shadow_share", "sample_share",
               "sample_negative_feedback", "sample_invalid", "sample_shadow_disagreement", "sample_low_confidence"}
    if set(fields) - allowed:
        raise ApplicationError(f"These cannot be changed here: {', '.join(sorted(set(fields) - allowed))}.")
    if fields.get("shadow_model") is not None or fields.get("shadow_prompt_version") is not None:
        _check_parts(deployment.project, fields.get("shadow_model"), fields.get("shadow_prompt_version"))
    for name, value in fields.items():
        setattr(deployment, name, value)
    deployment.save(update_fields=list(fields))
    forget_keys()
    return deployment


def passing_eval(*, project, model, prompt_version):
    """The latest finished eval of exactly this model and prompt version whose gate passed, or None."""
    return finished_evals(project).filter(model=model, prompt_version=prompt_version, gate_passed=True).first()


def _check_parts(project, model, prompt_version) -> None:
    if model is not None and model.project_id not in (None, project.id):
        raise ApplicationError("That model belongs to another project.")
    if prompt_version is not None and prompt_version.template.project_id != project.id:
        raise ApplicationError("That prompt version belongs to another project.")


@transaction.atomic
def promotion_create(*, deployment: Deployment, model, prompt_version, reason: str, user,
                     override_reason: str = "") -> Promotion:
    """Point the deployment at `model` × `prompt_version`.

    Allowed when a finished eval of exactly that pair passed its gate; otherwise only an admin may promote, and
    only with a written override reason (recorded and shown).
    """
    project = deployment.project
    _check_parts(project, model, prompt_version)
    if not reason.strip():
        raise ApplicationError("Say why this version is promoted.")
    eval_run = passing_eval(project=project, model=model, prompt_version=prompt_version)
    override_reason = override_reason.strip()
    if eval_run is None:
        if role_in_project(user, project) != Role.ADMIN:
            raise ApplicationError(f"No finished eval of {model} with {prompt_version} passed its gate: run one "
                                   "(or ask an admin to override with a written reason).")
        if not override_reason:
            raise ApplicationError(f"No finished eval of {model} with {prompt_version} passed its gate: an admin "
                                   "override needs a written reason.")
    elif override_reason:
        override_reason = ""  # the gate passed: nothing is overridden
    if eval_run is None:
        eval_run = finished_evals(project).filter(model=model, prompt_version=prompt_version).first()
    promotion = Promotion.objects.create(deployment=deployment, model=model, prompt_version=prompt_version,
                                         eval_run=eval_run, reason=reason.strip(), override_reason=override_reason,
                                         promoted_by=user)
    _point_at(deployment, promotion)
    audit_record("deployment.promote", project=project, target=deployment, actor=user,
                 details={"promotion": promotion.id, "model": model.id, "prompt_version": prompt_version.id,
                          "eval": eval_run.id if eval_run else None, "override_reason": override_reason})
    return promotion


@transaction.atomic
def promotion_rollback(*, deployment: Deployment, to: Promotion, user, reason: str = "") -> Promotion:
    """Serve an earlier promotion's version again, in one action; recorded as a promotion of its own."""
    if to.deployment_id != deployment.id:
        raise ApplicationError("That promotion belongs to another deployment.")
    if to.id == deployment.current_promotion_id:
        raise ApplicationError("That promotion is already the current one.")
    promotion = Promotion.objects.create(
        deployment=deployment, model=to.model, prompt_version=to.prompt_version, eval_run=to.eval_run,
        reason=reason.strip() or f"Rollback to promotion {to.id}", override_reason=to.override_reason,
        rollback_of=to, promoted_by=user)
    _point_at(deployment, promotion)
    audit_record("deployment.rollback", project=deployment.project, target=deployment, actor=user,
                 details={"promotion": promotion.id, "restores": to.id})
    return promotion


def _point_at(deployment: Deployment, promotion: Promotion) -> None:
    deployment.model, deployment.prompt_version = promotion.model, promotion.prompt_version
    deployment.current_promotion = promotion
    deployment.save(update_fields=["model", "prompt_version", "current_promotion"])
    forget_keys()


# --- keys --------------------------------------------------------------------------------

def key_create(*, deployment: Deployment, name: str, user=None, rate_limit_per_minute: int | None = None
               ) -> tuple[DeploymentKey, str]:
    """A new key and its secret, which is returned this once and never stored."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = DeploymentKey.objects.create(deployment=deployment, name=name.strip() or "Key", prefix=secret[:10],
                                       key_hash=key_hash(secret), rate_limit_per_minute=rate_limit_per_minute,
                                       created_by=user)
    audit_record("deployment.key_create", project=deployment.project, target=key, actor=user)
    return key, secret


def key_revoke(*, key: DeploymentKey, user=None) -> DeploymentKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record("deployment.key_revoke", project=key.deployment.project, target=key, actor=user)
    forget_keys()
    return key


# --- feedback and sampling ---------------------------------------------------------------

@transaction.atomic
def feedback_submit(*, trace: Trace, thumbs: str = "", correct_answer: dict | None = None,
                    comment: str = "") -> Feedback:
    """An end user's feedback on a trace. A correction is checked against the project, and kept as a suggestion
    (never as the expected answer): negative feedback and corrections sample the trace into review."""
    if thumbs not in ("", *Thumbs.values):
        raise ApplicationError("thumbs must be 'up' or 'down'.")
    if correct_answer is not None:
        problems = answer_problems(trace.deployment.project, correct_answer, text=trace.text)
        if problems:
            raise ApplicationError("The correct answer does not fit the project.", problems=problems)
    if not (thumbs or correct_answer is not None or comment.strip()):
        raise ApplicationError("Send thumbs, a correct answer or a comment.")
    feedback = Feedback.objects.create(trace=trace, thumbs=thumbs, correct_answer=correct_answer,
                                       comment=comment.strip())
    negative = thumbs == Thumbs.DOWN or correct_answer is not None
    if negative and trace.deployment.sample_negative_feedback:
        if not trace.sampled_reason:
            trace.sampled_reason = "user correction" if correct_answer is not None else "thumbs down"
            trace.save(update_fields=["sampled_reason"])
        traces_sample(traces=[trace])
    return feedback


def traces_sample(*, traces: list[Trace]) -> int:
    """Make each trace a record of its deployment's traffic dataset and an output of its traffic run, so the
    review screen grades it with the same keys (and a grade makes training examples and test cases as usual).
    A user's correction travels as the record's suggested answer, not as its label."""
    made = 0
    for trace in traces:
        with transaction.atomic():
            locked = Trace.objects.select_for_update().filter(id=trace.id, review_output_id=None).first()
            if locked is None or locked.model_id is None or locked.prompt_version_id is None:
                continue
            deployment = Deployment.objects.select_related("project").get(id=locked.deployment_id)
            dataset = _traffic_dataset(deployment)
            metadata = {"trace_id": str(locked.id), "deployment": deployment.slug, "sampled": locked.sampled_reason,
                        **({"caller": locked.metadata} if locked.metadata else {})}
            correction = locked.feedback.exclude(correct_answer=None).values_list("correct_answer", flat=True).first()
            if correction is not None:
                metadata["suggested_answer"] = correction
            record = record_append(dataset=dataset, text=locked.text, metadata=metadata)
            run = run_for_traffic(project=deployment.project, dataset=dataset, prompt_version=locked.prompt_version,
                                  model=locked.model)
            output = output_append(run=run, record=record, messages=locked.messages, raw_text=locked.raw_text,
                                   answer=locked.answer, status=locked.status, problems=locked.problems,
                                   error=locked.error, latency_ms=locked.latency_ms,
                                   input_tokens=locked.input_tokens, output_tokens=locked.output_tokens)
            Trace.objects.filter(id=locked.id).update(review_output_id=output.id)
            trace.review_output_id = output.id
            made += 1
    return made


def traces_sample_pending() -> int:
    """Sample traces marked for review whose sampling failed earlier (periodic safety net)."""
    pending = list(Trace.objects.exclude(sampled_reason="").filter(review_output_id=None)[:500])
    return traces_sample(traces=pending)


def _traffic_dataset(deployment: Deployment):
    if deployment.traffic_dataset_id is None:
        locked = Deployment.objects.select_for_update().get(id=deployment.id)
        if locked.traffic_dataset_id is None:
            locked.traffic_dataset = dataset_create(
                project=deployment.project, name=f"Traffic of {deployment.slug}",
                description=f"Calls of the deployment {deployment.slug} sampled into review.")
            locked.save(update_fields=["traffic_dataset"])
        deployment.traffic_dataset = locked.traffic_dataset
    return deployment.traffic_dataset
