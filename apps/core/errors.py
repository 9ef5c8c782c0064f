"""The site's 500 page, rendered with the request so a signed-in person keeps the navigation.

Django's own handler renders 500.html without the request (no `user`, so no navigation). This one renders it
with the request; if that fails too (the error may be the database itself, which loading the user needs), it
falls back to Django's handler: the same branded page without the navigation, never a second error.
"""

import logging

from django.http import HttpResponseServerError
from django.template import loader
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)


@requires_csrf_token
def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    try:
        page = loader.render_to_string(template_name, request=request)
    except Exception:  # noqa: BLE001 - whatever broke, the person still gets a page
        logger.warning("The 500 page could not be rendered with the request; rendering it without", exc_info=True)
        return defaults.server_error(request, template_name)
    return HttpResponseServerError(page)
