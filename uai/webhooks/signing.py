"""Standard Webhooks signatures: the secret a webhook signs with, and the headers of one POST."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import secrets

import standardwebhooks
from django.conf import settings

from uai_project import errors

SECRET_PREFIX = "whsec_"


def normalize_secret(secret: str) -> str:
    """A secret in the ``whsec_<base64>`` form: as is when it has that form, else its UTF-8 bytes
    as the key. 400 for a ``whsec_`` secret that is not base64."""
    if secret.startswith(SECRET_PREFIX):
        try:
            body = secret[len(SECRET_PREFIX) :].rstrip("=")
            key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidInput("A whsec_ secret must be base64.") from None
        if not key:
            raise errors.InvalidInput("The webhook secret is empty.")
        return secret
    return SECRET_PREFIX + base64.b64encode(secret.encode()).decode()


def default_secret() -> str:
    """UAI_WEBHOOK_SECRET, or (unset) a secret derived from SECRET_KEY."""
    if settings.UAI_WEBHOOK_SECRET:
        return normalize_secret(settings.UAI_WEBHOOK_SECRET)
    key = hmac.new(settings.SECRET_KEY.encode(), b"uai.webhooks.secret", hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(key).decode()


def signing_secret(secret: str) -> str:
    """The secret a webhook with ``secret`` (its own, or empty) signs with."""
    return normalize_secret(secret) if secret else default_secret()


def signed_headers(*, secret: str, message_id: str, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one POST of ``body`` (``webhook-id`` stays the same across
    retries of one body, so a receiver can drop a repeat)."""
    now = datetime.datetime.now(tz=datetime.UTC)
    signature = standardwebhooks.Webhook(signing_secret(secret)).sign(message_id, now, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers_many(*, secrets: list[str], message_id: str, body: bytes) -> dict[str, str]:
    """``signed_headers`` with one signature per secret, space-separated in ``webhook-signature``
    (as Standard Webhooks allows): a receiver holding any of the secrets verifies the POST."""
    now = datetime.datetime.now(tz=datetime.UTC)
    signatures = [
        standardwebhooks.Webhook(normalize_secret(secret)).sign(message_id, now, body) for secret in secrets
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
