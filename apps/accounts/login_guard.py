"""Login throttling: too many failed logins for one account, or from one address, and logins there wait.

Counts live in the cache (Redis in production) for TASKLLM_LOGIN_WINDOW_SECONDS; after
TASKLLM_LOGIN_MAX_FAILURES failures even the right password is refused until the window has passed,
so guessing gets a handful of tries per window. A successful login clears the account's count.
"""

import hashlib

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache


def _keys(username: str, address: str) -> list[str]:
    account = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-failures:account:{account}", f"login-failures:address:{address}"]


def _address(request) -> str:
    return (request.META.get("REMOTE_ADDR") or "unknown") if request else "unknown"


def is_locked(username: str, address: str) -> bool:
    return any((cache.get(key) or 0) >= settings.TASKLLM_LOGIN_MAX_FAILURES for key in _keys(username, address))


def record_failure(username: str, address: str) -> None:
    for key in _keys(username, address):
        cache.add(key, 0, timeout=settings.TASKLLM_LOGIN_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.TASKLLM_LOGIN_WINDOW_SECONDS)


def clear_account(username: str) -> None:
    cache.delete(_keys(username, "")[0])


class ThrottledAuthenticationForm(AuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = _address(self.request)
        if is_locked(username, address):
            raise forms.ValidationError("Too many failed logins: wait a few minutes and try again.",
                                        code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            record_failure(username, address)
            raise
        clear_account(username)
        return cleaned
