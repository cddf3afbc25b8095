"""One row per (user, ``Idempotency-Key``): the request it was first used for and its answer."""

from __future__ import annotations

from django.conf import settings
from django.db import models

KEY_MAX_CHARS = 255  # the column's size; UAI_IDEMPOTENCY_KEY_MAX_CHARS is at most this


class IdempotencyKey(models.Model):
    """A key's lifecycle: claimed (``status_code`` null) when its first request starts, answered
    when that request's answer is known (status, headers and body kept), deleted once expired.
    A streamed answer is kept when its stream ends; ``streaming`` marks one still being sent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=KEY_MAX_CHARS)
    fingerprint = models.CharField(max_length=64)  # sha256 of method, path, query and body
    method = models.CharField(max_length=16)
    path = models.TextField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    streaming = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    headers = models.JSONField(default=list, blank=True)  # [[name, value], …]
    body = models.BinaryField(null=True, blank=True)  # null with a status: too large to keep

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="uai_idempotency_user_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.method} {self.path})"
