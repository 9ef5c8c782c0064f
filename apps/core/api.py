from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination

# What every endpoint may answer besides success: a refused request (400: `{"detail", "problems"}` from
# our services, or a serializer's field errors), no or a bad token (401), a role too low (403), not found
# or not yours (404).
ErrorSerializer = inline_serializer("Error", {"detail": serializers.CharField()})
ERRORS = {"400": OpenApiTypes.ANY, "401": ErrorSerializer, "403": ErrorSerializer, "404": ErrorSerializer}


def paginate(request, view, queryset, serializer_class):
    """A limit/offset page of `queryset`, serialized, with next/previous links."""
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class AutoSchema(SpectacularAutoSchema):
    """Our list endpoints are APIViews that call `paginate`: document their lists as limit/offset pages (unless
    the view says `answers_whole_list = True`); and every operation documents the error answers it can give."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, body in ERRORS.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(body, code, direction=direction)
        return responses

    def _get_paginator(self):
        paginator = super()._get_paginator()
        if paginator is None and self.method == "GET" and not getattr(self.view, "answers_whole_list", False):
            return LimitOffsetPagination()
        return paginator
