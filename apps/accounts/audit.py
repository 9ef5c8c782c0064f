"""The audit log: `audit_record` adds one row; the acting person comes from the request being served.

AuditActorMiddleware remembers the request being served (a context variable, so threads keep their own)
and its user is read when an event is recorded, after DRF's token authentication has set it; so a service
records who acted without every service growing an `actor` argument. Work with no request (a Celery
task) records no actor unless given one.
"""

import contextvars

from .models import AuditEvent

_request = contextvars.ContextVar("audit_request", default=None)


def audit_record(action: str, *, project=None, target=None, details: dict | None = None, actor=None) -> AuditEvent:
    """Add an audit event. `target` is the object acted on (shown as "<Class> #id name"); never pass secrets."""
    actor = actor or getattr(_request.get(), "user", None)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditEvent.objects.create(project=project, actor=actor, action=action, target=_describe(target),
                                     details=details or {})


def _describe(target) -> str:
    if target is None:
        return ""
    if isinstance(target, str):
        return target[:300]
    return f"{type(target).__name__} #{target.pk} {target}"[:300]


class AuditActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)
