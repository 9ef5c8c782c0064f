"""The settings the tests run with: the site's own, in DEBUG mode (settings.py refuses to start in production mode
without a real secret key). pytest-django still runs each test with DEBUG off, as in production."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from .settings import *  # noqa: E402,F403
