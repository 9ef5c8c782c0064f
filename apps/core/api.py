from rest_framework.pagination import LimitOffsetPagination


def paginate(request, view, queryset, serializer_class):
    """A limit/offset page of `queryset`, serialized, with next/previous links."""
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
