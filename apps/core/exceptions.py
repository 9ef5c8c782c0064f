"""The one domain error and how the API reports it."""

from django.core.exceptions import BadRequest
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """An error a person can act on: the message says what is wrong and what to do.

    `problems` carries itemised details (for example one entry per bad line of a file).
    """

    def __init__(self, message: str, *, problems: list | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message}
        if exc.problems:
            body["problems"] = exc.problems
        return Response(body, status=400)
    if isinstance(exc, BadRequest):  # a malformed query parameter (core/params.py)
        return Response({"detail": str(exc)}, status=400)
    return exception_handler(exc, context)
