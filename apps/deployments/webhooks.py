"""Webhooks: each delivery is the exact JSON body, signed with HMAC-SHA256 of `timestamp.body` under the webhook's
secret (headers X-TaskLLM-Timestamp and X-TaskLLM-Signature: `sha256=<hex>`), sent through the outbound-host rules
of apps/llm/outbound.py without following redirects, retried with backoff, every attempt logged."""

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.llm.outbound import OutboundRefused, check_base_url, validate_base_url

from .models import AlertEvent, DeliveryAttempt, Webhook, WebhookDelivery

TIMEOUT_SECONDS = 10
EXCERPT = 500
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def signature(secret: str, timestamp: str, body: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def webhook_create(*, project, url: str, events=(), user=None) -> Webhook:
    try:
        validate_base_url(_origin(url))
    except ValidationError as exc:
        raise ApplicationError(exc.messages[0]) from None
    unknown = set(events) - set(AlertEvent.values)
    if unknown:
        raise ApplicationError(f"Unknown events: {', '.join(sorted(unknown))}.")
    return Webhook.objects.create(project=project, url=url, events=sorted(events), created_by=user,
                                  secret="whsec_" + secrets.token_urlsafe(24))


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()


def webhooks_send(*, project, event: str, payload: dict) -> list[WebhookDelivery]:
    """Queue one delivery per enabled webhook of the project subscribed to `event` (no events: all of them)."""
    body = json.dumps({"event": event, "sent_at": timezone.now().isoformat(), **payload}, sort_keys=True)
    deliveries = [WebhookDelivery.objects.create(webhook=hook, event=event, body=body)
                  for hook in project.webhooks.filter(enabled=True) if not hook.events or event in hook.events]
    for delivery in deliveries:
        _enqueue(delivery)
    return deliveries


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a logged delivery again (a fresh one, same body), e.g. after the receiver was fixed."""
    again = WebhookDelivery.objects.create(webhook=delivery.webhook, event=delivery.event, body=delivery.body)
    _enqueue(again)
    return again


def _enqueue(delivery: WebhookDelivery) -> None:
    from .tasks import webhook_deliver_task

    transaction.on_commit(lambda: webhook_deliver_task.delay(delivery.id))


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 10 s, 1 min, 5 min, 30 min (configurable)."""
    steps = settings.TASKLLM_WEBHOOK_BACKOFF_SECONDS
    return steps[min(attempts - 1, len(steps) - 1)]


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery:
    """One try; the delivery's status says what came of it (pending: try again)."""
    delivery = WebhookDelivery.objects.select_related("webhook").get(id=delivery_id)
    if delivery.status != PENDING:
        return delivery
    hook = delivery.webhook
    started = time.monotonic()
    attempt = DeliveryAttempt(delivery=delivery)
    try:
        check_base_url(_origin(hook.url))
        attempt.status_code, attempt.response_excerpt = _post(hook, delivery.body)
    except OutboundRefused as exc:
        attempt.error = str(exc)[:EXCERPT]
    except (OSError, ValueError) as exc:
        attempt.error = f"{type(exc).__name__}: {exc}"[:EXCERPT]
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    attempt.save()
    delivery.attempts += 1
    ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
    if ok:
        delivery.status = DELIVERED
    elif delivery.attempts >= settings.TASKLLM_WEBHOOK_MAX_ATTEMPTS or attempt.error.startswith("Requests to"):
        delivery.status = FAILED
    delivery.save(update_fields=["status", "attempts"])
    return delivery


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _post(hook: Webhook, body: str) -> tuple[int, str]:
    timestamp = str(int(time.time()))
    request = urllib.request.Request(hook.url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "TaskLLM-Webhook/1",
        "X-TaskLLM-Timestamp": timestamp, "X-TaskLLM-Signature": signature(hook.secret, timestamp, body)})
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) checked above
            return response.status, response.read(EXCERPT).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(EXCERPT).decode(errors="replace")
