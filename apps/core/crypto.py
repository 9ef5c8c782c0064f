"""Secrets at rest: API keys are stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from TASKLLM_ENCRYPTION_KEY (a Fernet key: `python -c "from cryptography.fernet import
Fernet; print(Fernet.generate_key().decode())"`); when it is unset (development) it is derived from
SECRET_KEY, so changing SECRET_KEY then makes stored API keys unreadable. A stored value without the
`fernet:` prefix is a key saved before encryption and reads back as it is. Every new value is encrypted,
even one that itself begins with `fernet:`, so what is stored is never ambiguous.
"""

import base64
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

logger = logging.getLogger(__name__)
PREFIX = "fernet:"


def _fernet() -> Fernet:
    key = getattr(settings, "TASKLLM_ENCRYPTION_KEY", "")
    if not key:
        digest = hashlib.sha256(b"taskllm-secrets:" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest)
    return Fernet(key)


def encrypt(text: str) -> str:
    if not text:
        return text
    return PREFIX + _fernet().encrypt(text.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored or not stored.startswith(PREFIX):
        return stored
    try:
        return _fernet().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken:
        # A changed encryption key: the secret is lost, and the model's calls fail with an auth error.
        logger.error("A stored secret cannot be decrypted: was TASKLLM_ENCRYPTION_KEY (or SECRET_KEY) changed?")
        return ""


class EncryptedTextField(models.TextField):
    """A text field holding plain text in Python and Fernet ciphertext in the database."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value is not None else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
