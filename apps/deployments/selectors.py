"""Reads for deployments: access helpers, the deployment page's data, traces with their filters."""

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.core.params import sort_ordering
from apps.evals.selectors import finished_evals

from .models import Deployment, DeploymentKey, Feedback, Promotion, Trace, TraceWriteFailure
from .trace_buffer import BUFFER


def deployment_for_user(user, deployment_id, *, role: str = Role.REVIEWER) -> Deployment:
    deployment = get_object_or_404(
        Deployment.objects.select_related("project", "model", "prompt_version__template", "current_promotion",
                                          "shadow_model", "shadow_prompt_version__template"), id=deployment_id)
    check_project_role(user, deployment.project, role=role)
    return deployment


def promotion_of(deployment: Deployment, promotion_id) -> Promotion:
    return get_object_or_404(Promotion, id=promotion_id, deployment=deployment)


def key_of(deployment: Deployment, key_id) -> DeploymentKey:
    return get_object_or_404(DeploymentKey, id=key_id, deployment=deployment)


def trace_of(deployment: Deployment, trace_id) -> Trace:
    return get_object_or_404(Trace.objects.select_related("model", "prompt_version__template", "shadow_model"),
                             id=trace_id, deployment=deployment)


# --- keys, as the endpoints read them ----------------------------------------------------

_keys: dict[str, tuple[float, DeploymentKey]] = {}
_keys_lock = threading.Lock()


def key_hash(secret: str) -> str:
    # A key is 32 random bytes, so a fast hash is enough: there is nothing to guess from it.
    return hashlib.sha256(secret.encode()).hexdigest()


def key_for_secret(secret: str) -> DeploymentKey | None:
    """The key (with its deployment and everything a call needs) for a secret, or None.

    Each web process keeps what it read for TASKLLM_DEPLOYMENT_CACHE_SECONDS, so a call costs no query, and
    while the database is unreachable it keeps using what it has: answers go on flowing. A revocation or
    promotion reaches other processes within that time (this process at once: see `forget_keys`).
    """
    digest = key_hash(secret)
    cached = _keys.get(digest)
    if cached and time.monotonic() - cached[0] < settings.TASKLLM_DEPLOYMENT_CACHE_SECONDS:
        return cached[1]
    try:
        key = (DeploymentKey.objects.select_related(
            "deployment__project", "deployment__model__parent", "deployment__prompt_version__template",
            "deployment__current_promotion", "deployment__shadow_model__parent",
            "deployment__shadow_prompt_version__template").filter(key_hash=digest).first())
    except DatabaseError:
        if cached:
            return cached[1]
        raise
    with _keys_lock:
        if key is None:
            _keys.pop(digest, None)
        else:
            _keys[digest] = (time.monotonic(), key)
    return key


def forget_keys() -> None:
    with _keys_lock:
        _keys.clear()


# The columns the deployment and trace lists sort by, and the fields each one orders.
DEPLOYMENT_SORTS = {"slug": ["slug"], "serves": ["model__name"], "promoted": ["current_promotion__created_at"],
                    "description": ["description"]}
TRACE_SORTS = {"time": ["created_at"], "status": ["status"], "latency": ["latency_ms"],
               "tokens": ["output_tokens", "input_tokens"], "sampled": ["sampled_reason"]}


def deployments_of(project, *, sort: str = "slug") -> QuerySet[Deployment]:
    return project.deployments.select_related("model", "prompt_version__template", "current_promotion").order_by(
        *sort_ordering(sort, DEPLOYMENT_SORTS))


def promotions_of(deployment: Deployment) -> QuerySet[Promotion]:
    return deployment.promotions.select_related("model", "prompt_version__template", "eval_run", "promoted_by",
                                                "rollback_of")


def keys_of(deployment: Deployment) -> QuerySet[DeploymentKey]:
    return deployment.keys.all()


def candidate_evals(deployment: Deployment):
    """Every finished eval of the project since the current promotion (all of them before the first), newest first,
    with its gate: the versions that could be promoted next."""
    evals = finished_evals(deployment.project)
    if deployment.current_promotion_id:
        evals = evals.filter(finished_at__gte=deployment.current_promotion.created_at)
    return evals[:50]


def trace_for_key(key: DeploymentKey, trace_id) -> Trace | None:
    """A trace of the key's deployment; one still in this process's buffer is written first."""
    try:
        trace_uuid = uuid.UUID(str(trace_id))
    except ValueError:
        return None
    queryset = Trace.objects.select_related("deployment__project").filter(id=trace_uuid,
                                                                           deployment_id=key.deployment_id)
    trace = queryset.first()
    if trace is None and BUFFER.find(trace_uuid) is not None:
        BUFFER.flush()
        trace = queryset.first()
    return trace


def lost_traces(deployment: Deployment) -> int:
    return TraceWriteFailure.objects.filter(deployment=deployment).aggregate(n=Sum("count"))["n"] or 0


# --- the traces page ---------------------------------------------------------------------

STATUS_CHOICES = [("", "Any status"), ("ok", "Valid"), ("invalid", "Invalid"), ("error", "Error"),
                  ("disconnected", "Client disconnected")]
FEEDBACK_CHOICES = [("", "Any feedback"), ("up", "Thumbs up"), ("down", "Thumbs down"),
                    ("correction", "With a correction"), ("any", "Any feedback"), ("none", "No feedback")]


@dataclass
class TraceFilters:
    q: str = ""
    status: str = ""
    feedback: str = ""
    label: str = ""
    since: object = None
    until: object = None
    sampled: bool = False


def traces_filtered(deployment: Deployment, filters: TraceFilters, *, sort: str = "-time") -> QuerySet[Trace]:
    traces = deployment.traces.select_related("model", "prompt_version__template")
    if filters.q:
        traces = traces.filter(Q(text__icontains=filters.q) | Q(raw_text__icontains=filters.q))
    if filters.status:
        traces = traces.filter(status=filters.status)
    if filters.label:
        traces = traces.filter(categories__contains=[filters.label])
    if filters.since:
        traces = traces.filter(created_at__date__gte=filters.since)
    if filters.until:
        traces = traces.filter(created_at__date__lte=filters.until)
    if filters.sampled:
        traces = traces.exclude(sampled_reason="")
    feedback = Feedback.objects.filter(trace=OuterRef("pk"))
    if filters.feedback in ("up", "down"):
        traces = traces.filter(Exists(feedback.filter(thumbs=filters.feedback)))
    elif filters.feedback == "correction":
        traces = traces.filter(Exists(feedback.exclude(correct_answer=None)))
    elif filters.feedback == "any":
        traces = traces.filter(Exists(feedback))
    elif filters.feedback == "none":
        traces = traces.exclude(Exists(feedback))
    return traces.order_by(*sort_ordering(sort, TRACE_SORTS))


def feedback_summary(traces: list[Trace]) -> dict:
    """Per trace id: its feedback, for a page of traces (one query)."""
    summary: dict = {}
    for item in Feedback.objects.filter(trace__in=[t.id for t in traces]).order_by("created_at"):
        summary.setdefault(item.trace_id, []).append(item)
    return summary

