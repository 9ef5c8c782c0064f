from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.pagination import LimitOffsetPagination


def paginate(request, view, queryset, serializer_class):
    """A limit/offset page of `queryset`, serialized, with next/previous links."""
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class AutoSchema(SpectacularAutoSchema):
    """Our list endpoints are APIViews that call `paginate`: document their lists as limit/offset pages."""

    def _get_paginator(self):
        paginator = super()._get_paginator()
        if paginator is None and self.method == "GET":
            return LimitOffsetPagination()
        return paginator
