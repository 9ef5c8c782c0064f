"""The endpoints an application calls with its deployment key (never a member's token or session):
the task endpoint, the OpenAI-compatible gateway and end-user feedback. Plain Django views, not DRF: they are on
the hot path, and they speak OpenAI's error shape rather than DRF's."""

import json

from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError

from . import calling, selectors, services
from .calling import CallError


def _error(exc: CallError) -> JsonResponse:
    response = JsonResponse(exc.body(), status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _json_body(request):
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        raise CallError(400, "The body is not valid JSON.", code="invalid_json") from None


def _caller(request, slug: str):
    key = calling.key_from_header(request.headers.get("Authorization", ""))
    deployment = calling.deployment_of(key, slug)
    calling.rate_limit(key)
    return key, deployment


@csrf_exempt
@require_POST
def predict(request, slug):
    """POST /api/deployments/<slug>/predict: {"text", "metadata"} or a list of up to 100 → the kind's answer."""
    try:
        key, deployment = _caller(request, slug)
        items, many = calling.parse_inputs(_json_body(request))
        results = calling.predict(key, deployment, items)
    except CallError as exc:
        return _error(exc)
    if all("error" in r for r in results):
        return _error(CallError(502, results[0]["error"], code="model_unreachable", kind="api_error"))
    return JsonResponse(results if many else results[0], safe=False)


@csrf_exempt
@require_POST
def chat_completions(request):
    """POST /v1/chat/completions with `model` = the deployment's slug; the model's reply passes through."""
    try:
        body = calling.chat_body(_json_body(request))
        key, deployment = _caller(request, str(body.get("model") or ""))
        if body.get("stream"):
            events, trace_id = calling.chat_stream(key, deployment, body)
            response = StreamingHttpResponse(events, content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
        else:
            reply, trace_id = calling.chat(key, deployment, body)
            response = JsonResponse(reply)
    except CallError as exc:
        return _error(exc)
    response["X-TaskLLM-Trace-Id"] = trace_id
    return response


@csrf_exempt
@require_POST
def feedback(request, trace_id):
    """POST /api/traces/<trace_id>/feedback: {"thumbs": "up"|"down", "correct_answer": {...}, "comment": "..."}."""
    try:
        key = calling.key_from_header(request.headers.get("Authorization", ""))
        calling.rate_limit(key)
        body = _json_body(request)
        if not isinstance(body, dict):
            raise CallError(400, "Send a JSON object.", code="invalid_request")
        trace = selectors.trace_for_key(key, trace_id)
        if trace is None:
            raise CallError(404, "No such trace for this key's deployment (a trace is written within a second or "
                            "two of its call).", code="trace_not_found")
        item = services.feedback_submit(trace=trace, thumbs=str(body.get("thumbs") or ""),
                                        correct_answer=body.get("correct_answer"),
                                        comment=str(body.get("comment") or ""))
    except CallError as exc:
        return _error(exc)
    except ApplicationError as exc:
        return JsonResponse({"error": {"message": exc.message, "type": "invalid_request_error", "param": None,
                                       "code": "invalid_feedback", "problems": exc.problems}}, status=400)
    return JsonResponse({"id": item.id, "trace_id": str(trace.id), "thumbs": item.thumbs}, status=201)
