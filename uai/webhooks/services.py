"""Writes of webhooks: create (the URL checked against the operator's list), delete, and the
delivery job's records (each attempt, the cursor, the end)."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from uai.webhooks import formats, queues, signing
from uai.webhooks.models import Delivery, Webhook
from uai_project import errors


class WebhookRefused(errors.Forbidden):
    """The URL is not one the operator allows (UAI_WEBHOOK_ALLOWED_URLS), or not a URL at all."""


def url_allowed(url: str) -> bool:
    """Whether UAI may call ``url``: an http(s) URL with no user part that starts with one of
    UAI_WEBHOOK_ALLOWED_URLS's prefixes (or matches one of its ``re:`` regexes); none when empty."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    # "http://127.0.0.1:80@evil.example/" starts with an allowed "http://127.0.0.1:" prefix.
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    if any(c.isspace() or ord(c) < 32 for c in url):
        return False
    for allowed in settings.UAI_WEBHOOK_ALLOWED_URLS:
        if allowed.startswith("re:"):
            if re.fullmatch(allowed[3:], url):
                return True
        elif url.startswith(allowed):
            return True
    return False


def _max_length(field: str) -> int:
    return int(getattr(Webhook._meta.get_field(field), "max_length", 0) or 0)


def check_url(url: str) -> None:
    """Raise WebhookRefused unless UAI may call ``url``."""
    if not isinstance(url, str) or not url or len(url) > _max_length("url"):
        raise WebhookRefused("The webhook URL is missing or too long.", code=errors.ErrorCode.INVALID)
    if not url_allowed(url):
        raise WebhookRefused(f"UAI does not call {url}: it is not among the URLs the operator allows.")


def webhook_check(
    *,
    url: str,
    format: str,
    name: str = "",
    token: str = "",
    secret: str = "",
    auth_scheme: str = "",
    auth_credentials: str = "",
) -> None:
    """Every check webhook_create makes before it writes, with the same exceptions, so a caller
    (an A2A push config) can refuse a bad webhook before it starts anything: WebhookRefused when
    the URL is not allowed; 400 for an unknown format, a bad secret, fields too long, or a token or
    credentials that are not printable ASCII."""
    check_url(url)
    formats.format_class(format)
    if secret:
        signing.normalize_secret(secret)
    for field, value in (
        ("name", name),
        ("token", token),
        ("secret", secret),
        ("auth_scheme", auth_scheme),
        ("auth_credentials", auth_credentials),
    ):
        limit = _max_length(field)
        if not isinstance(value, str) or len(value) > limit:
            raise errors.InvalidInput(
                f"The webhook's {field} must be a string of at most {limit} characters."
            )
    if not all(" " <= c <= "~" for c in auth_scheme + auth_credentials + token):
        raise errors.InvalidInput(
            "A webhook's token and credentials are header values: printable ASCII, no line breaks."
        )


def webhook_create(
    *,
    owner_id: Any,
    run: Any,
    url: str,
    format: str,
    name: str = "",
    token: str = "",
    secret: str = "",
    auth_scheme: str = "",
    auth_credentials: str = "",
) -> Webhook:
    """A webhook that POSTs every event of ``run`` to ``url`` from the run's first event on, and
    its delivery job (deferred in this transaction). A webhook of the run with the same non-empty
    ``name`` is replaced. WebhookRefused when the URL is not allowed; 400 for an unknown format,
    a bad secret, or fields too long."""
    webhook_check(
        url=url,
        format=format,
        name=name,
        token=token,
        secret=secret,
        auth_scheme=auth_scheme,
        auth_credentials=auth_credentials,
    )
    try:
        with transaction.atomic():
            if name:
                Webhook.objects.filter(run=run, name=name).delete()
            webhook = Webhook.objects.create(
                owner_id=owner_id,
                run=run,
                url=url,
                format=format,
                name=name,
                token=token,
                secret=secret,
                auth_scheme=auth_scheme,
                auth_credentials=auth_credentials,
            )
            webhook.job_id = queues.defer_delivery(webhook_id=webhook.id)
            webhook.save(update_fields=["job_id"])
    except IntegrityError:  # another request made one of this name at the same moment
        raise errors.Conflict(f"A webhook named {name!r} was just made for this run; try again.") from None
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete a webhook and its deliveries; its job ends at its next body."""
    Webhook.objects.filter(pk=webhook.pk).delete()


def webhook_resume(*, webhook_id: Any) -> bool:
    """Deliver a failed webhook again, from its cursor (the admin's action); False when it was not
    failed."""
    with transaction.atomic():
        updated = Webhook.objects.filter(pk=webhook_id, status=Webhook.Status.FAILED).update(
            status=Webhook.Status.ACTIVE, error=""
        )
        if updated:
            job_id = queues.defer_delivery(webhook_id=webhook_id)
            if job_id is not None:
                Webhook.objects.filter(pk=webhook_id).update(job_id=job_id)
    return bool(updated)


def delivery_record(
    *,
    webhook_id: Any,
    seq: int,
    index: int,
    attempt: int,
    outcome: str,
    status_code: int | None = None,
    error: str = "",
    duration_ms: int = 0,
) -> bool:
    """Record one attempt; a delivered one moves the cursor to (seq, index), in the same
    transaction. False when the webhook is gone or no longer active (its job stops)."""
    with transaction.atomic():
        if not Webhook.objects.filter(pk=webhook_id, status=Webhook.Status.ACTIVE).exists():
            return False
        Delivery.objects.create(
            webhook_id=webhook_id,
            seq=seq,
            index=index,
            attempt=attempt,
            outcome=outcome,
            status_code=status_code,
            error=error[:10_000],
            duration_ms=duration_ms,
        )
        if outcome == Delivery.Outcome.DELIVERED:
            # Only forward: a repeat of a body already past the cursor never sets it back.
            Webhook.objects.filter(pk=webhook_id).filter(
                Q(delivered_seq__lt=seq) | Q(delivered_seq=seq, delivered_index__lt=index)
            ).update(delivered_seq=seq, delivered_index=index)
    return True


def webhook_finish(*, webhook_id: Any, status: str, error: str = "") -> None:
    """End an active webhook's delivery: ``done`` (all delivered) or ``failed`` (with why)."""
    Webhook.objects.filter(pk=webhook_id, status=Webhook.Status.ACTIVE).update(status=status, error=error)


def webhook_set_job(*, webhook_id: Any, job_id: int | None) -> None:
    """Remember the webhook's latest delivery job (the admin links it)."""
    if job_id is not None:
        Webhook.objects.filter(pk=webhook_id).update(job_id=job_id)
