"""A user's own limits: each empty field is the setting's default (UAI_USER_*)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from uai.limits import rates


def validate_rate(value: str) -> None:
    """A rate (``600/min``, ``30/10s``), or ``none`` for no limit."""
    if value.strip().lower() == rates.NO_LIMIT:
        return
    try:
        rates.parse_rate(value)
    except ValueError as exc:
        raise ValidationError(f"{exc} Or 'none' for no limit; empty for UAI_USER_RATE.") from None


class UserLimits(models.Model):
    """What one user may do, where it differs from the defaults. 0 lifts a limit."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="limits"
    )
    rate = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_rate],
        help_text="Requests per period on every API, like 600/min or 30/10s; 'none': no limit; "
        "empty: UAI_USER_RATE.",
    )
    max_concurrent_runs = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Unfinished runs (queued, running or waiting for input) at once; 0: no limit; "
        "empty: UAI_USER_MAX_CONCURRENT_RUNS.",
    )
    max_concurrent_turns = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Unfinished chat turns (queued, running or waiting for input) at once; 0: no "
        "limit; empty: UAI_USER_MAX_CONCURRENT_TURNS.",
    )
    max_stored_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Bytes of files (uploads and agents' files) kept at once; 0: no limit; "
        "empty: UAI_USER_MAX_STORED_BYTES.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "limits"
        verbose_name_plural = "limits"

    def __str__(self) -> str:
        return f"limits of user {self.user_id}"
