"""Writes of webhooks: create (the URL checked against the operator's list and its host's
addresses), delete, and the delivery job's records (each attempt, the cursor, the end); and of
the endpoints users register: create, change, rotate the secret, delete, redeliver, test."""

from __future__ import annotations

import datetime
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from uai.agents.models import Agent
from uai.webhooks import events, formats, network, queues, signing
from uai.webhooks.models import Delivery, Endpoint, EndpointDelivery, Webhook
from uai_project import errors, metrics


class WebhookRefused(errors.Forbidden):
    """The URL is not one the operator allows (UAI_WEBHOOK_ALLOWED_URLS), or not a URL at all."""


_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9._:-]+")  # a host as httpx sends it: lower-case, IDNA-encoded, no "%"
# An encoded ".", "/" or "\\" in a path: a server may decode it into another path than the one checked.
_ENCODED = re.compile(r"%(?:2e|2f|5c)", re.IGNORECASE)


class _Origin:
    """One prefix of UAI_WEBHOOK_ALLOWED_URLS, parsed: scheme, host, port (None: any, for a
    prefix written "scheme://host:"), and the path whose segments a URL's path must start with."""

    def __init__(self, scheme: str, host: str, port: int | None, path: str) -> None:
        self.scheme, self.host, self.port, self.path = scheme, host, port, path

    def allows(self, url: httpx.URL) -> bool:
        if (url.scheme, url.raw_host.decode("ascii")) != (self.scheme, self.host):
            return False
        if self.port is not None and _port(url) != self.port:
            return False
        path = url.raw_path.split(b"?", 1)[0].decode("ascii")
        return not self.path or path == self.path or path.startswith(self.path + "/")


def _port(url: httpx.URL) -> int:
    return url.port or _DEFAULT_PORTS[url.scheme]


def _dot_segment(segment: str) -> bool:
    """Whether a server may read ``segment`` as "." or "..": decoded, and without its parameters
    (";x", which some servers drop: ``..;`` is ``..`` to them)."""
    return urllib.parse.unquote(segment).split(";", 1)[0] in (".", "..")


def _parse(url: str) -> httpx.URL | None:
    """``url`` as httpx sends it, or None when it is not a URL UAI calls whatever the list says:
    not http(s), no host, a user part, a fragment, a backslash, blanks or control characters, a
    "." or ".." path segment, an encoded "." "/" or "\\" in its path, a port out of range. The
    default port is dropped (``http://h:80/`` is ``http://h/``)."""
    if not isinstance(url, str) or "\\" in url or "#" in url:
        return None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        parsed = httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        return None
    if "@" in parts.netloc or _ENCODED.search(parts.path) or any(map(_dot_segment, parts.path.split("/"))):
        return None
    if parsed.scheme not in _DEFAULT_PORTS or parsed.userinfo or parsed.fragment:
        return None
    try:
        host = parsed.raw_host.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not _HOST.fullmatch(host) or not 0 < _port(parsed) < 65536:
        return None
    if parsed.port == _DEFAULT_PORTS[parsed.scheme]:
        parsed = parsed.copy_with(port=None)
    return parsed


def _origin(prefix: str) -> _Origin | None:
    """A prefix of UAI_WEBHOOK_ALLOWED_URLS parsed; None when it is not one (it allows nothing):
    a query in it, or anything _parse refuses."""
    parsed = _parse(prefix)
    if parsed is None or b"?" in parsed.raw_path:
        return None
    any_port = urllib.parse.urlsplit(prefix).netloc.endswith(":")
    path = parsed.raw_path.decode("ascii").rstrip("/")
    return _Origin(parsed.scheme, parsed.raw_host.decode("ascii"), None if any_port else _port(parsed), path)


def check_allowed_setting(allowed: str) -> str | None:
    """Why an entry of UAI_WEBHOOK_ALLOWED_URLS is not one (None when it is): a ``re:`` entry
    must compile, any other must be an http(s) prefix (used by the app's start-up check)."""
    if allowed.startswith("re:"):
        try:
            re.compile(allowed[3:])
        except re.error as exc:
            return f"not a regex ({exc})"
        return None
    if _origin(allowed) is None:
        return "not an http(s) URL prefix (scheme://host[:port][/path], no user part, query or fragment)"
    return None


def allowed_url(url: str) -> httpx.URL | None:
    """The URL UAI POSTs to for ``url`` (parsed and normalised, exactly what was checked), or None
    when UAI may not call it. Allowed: a URL _parse accepts, whose scheme, host and port (the
    default port when none is given) are a prefix's, and whose path starts with the prefix's path
    on a segment boundary (prefix ``https://h/hooks`` allows ``/hooks`` and ``/hooks/x``, not
    ``/hooksx``; ``https://h`` or ``https://h/`` allows any path on exactly that origin;
    ``http://h:`` any port of h); or whose normalised text a ``re:`` regex matches in full.
    None when the list is empty."""
    parsed = _parse(url)
    if parsed is None:
        return None
    for allowed in settings.UAI_WEBHOOK_ALLOWED_URLS:
        if allowed.startswith("re:"):
            if re.fullmatch(allowed[3:], str(parsed)):
                return parsed
        else:
            origin = _origin(allowed)
            if origin is not None and origin.allows(parsed):
                return parsed
    return None


def url_allowed(url: str) -> bool:
    """Whether UAI may call ``url`` (see allowed_url)."""
    return allowed_url(url) is not None


def _max_length(field: str) -> int:
    return int(getattr(Webhook._meta.get_field(field), "max_length", 0) or 0)


def check_url(url: str) -> None:
    """Raise WebhookRefused unless UAI may call ``url``."""
    if not isinstance(url, str) or not url or len(url) > _max_length("url"):
        raise WebhookRefused("The webhook URL is missing or too long.", code=errors.ErrorCode.INVALID)
    parsed = allowed_url(url)
    if parsed is None:
        raise WebhookRefused(f"UAI does not call {url}: it is not among the URLs the operator allows.")
    reason = network.refusal(parsed)
    if reason is not None:
        raise WebhookRefused(f"UAI does not call {url}: {reason}")


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
    response: str = "",
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
            response=response,
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


def backoff_seconds(failures: int) -> float:
    """The wait after the ``failures``-th failed POST of a body: doubling, capped."""
    base: float = settings.UAI_WEBHOOK_BACKOFF_SECONDS
    return float(min(base * 2 ** min(failures - 1, 30), settings.UAI_WEBHOOK_BACKOFF_MAX_SECONDS))


# --- Endpoints: URLs users register for the events of all their runs --------------------------------


def _endpoint_url(url: Any) -> str:
    """``url`` when UAI may call it; 400 saying why not (a user's input, not an operator's)."""
    try:
        check_url(url)
    except WebhookRefused as exc:
        raise errors.InvalidInput(exc.detail) from None
    return str(url)


def _event_types(values: Iterable[str]) -> list[str]:
    types = list(dict.fromkeys(values))
    unknown = [t for t in types if t not in events.EVENT_TYPES]
    if unknown:
        raise errors.InvalidInput(
            f"Unknown event type(s) {', '.join(map(repr, unknown))}; one of: {', '.join(events.EVENT_TYPES)}."
        )
    return types


def _agents(values: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(values))
    known = set(Agent.objects.filter(name__in=names).values_list("name", flat=True))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise errors.InvalidInput(f"Unknown agent(s): {', '.join(map(repr, unknown))}.")
    return names


def _secret(secret: str | None) -> str:
    return signing.normalize_secret(secret) if secret else signing.new_secret()


def endpoint_create(
    *,
    owner_id: Any,
    url: str,
    event_types: Iterable[str] = (),
    agents: Iterable[str] = (),
    description: str = "",
    enabled: bool = True,
    secret: str | None = None,
) -> Endpoint:
    """Register an endpoint for the owner's events (all types, all agents when the lists are
    empty). 400 for a URL UAI may not call, an unknown event type or agent, a bad secret, or one
    endpoint too many (UAI_WEBHOOK_MAX_ENDPOINTS)."""
    url = _endpoint_url(url)
    types, names, key = _event_types(event_types), _agents(agents), _secret(secret)
    with transaction.atomic():
        # The owner's row locked: two requests at once cannot both pass the count.
        get_user_model().objects.select_for_update().filter(pk=owner_id).exists()
        if Endpoint.objects.filter(owner_id=owner_id).count() >= settings.UAI_WEBHOOK_MAX_ENDPOINTS:
            raise errors.InvalidInput(
                f"At most {settings.UAI_WEBHOOK_MAX_ENDPOINTS} webhook endpoints per user "
                "(UAI_WEBHOOK_MAX_ENDPOINTS); delete one first."
            )
        endpoint = Endpoint.objects.create(
            owner_id=owner_id,
            url=url,
            event_types=types,
            agents=names,
            description=description,
            enabled=enabled,
            secret=key,
        )
        events.forget(owner_id)
    return endpoint


def endpoint_update(*, endpoint: Endpoint, fields: dict[str, Any]) -> Endpoint:
    """Change an endpoint's ``url``, ``event_types``, ``agents``, ``description`` or ``enabled``
    (those given); checked as when it is made."""
    if "url" in fields:
        endpoint.url = _endpoint_url(fields["url"])
    if "event_types" in fields:
        endpoint.event_types = _event_types(fields["event_types"])
    if "agents" in fields:
        endpoint.agents = _agents(fields["agents"])
    if "description" in fields:
        endpoint.description = fields["description"]
    if "enabled" in fields:
        endpoint.enabled = bool(fields["enabled"])
    with transaction.atomic():
        endpoint.save()
        events.forget(endpoint.owner_id)
    return endpoint


def endpoint_delete(*, endpoint: Endpoint) -> None:
    """Delete an endpoint with its deliveries (a job of one ends when it finds it gone)."""
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint.pk).delete()
        events.forget(endpoint.owner_id)


def endpoint_rotate_secret(
    *, endpoint: Endpoint, secret: str | None = None, grace_seconds: int | None = None
) -> Endpoint:
    """A new secret (given, or made) signs from now on; the old one also signs, beside it, for
    ``grace_seconds`` (UAI_WEBHOOK_ROTATION_GRACE_SECONDS by default; 0: not at all)."""
    grace = settings.UAI_WEBHOOK_ROTATION_GRACE_SECONDS if grace_seconds is None else grace_seconds
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        if grace > 0:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = timezone.now() + datetime.timedelta(seconds=grace)
        else:
            endpoint.previous_secret, endpoint.previous_secret_expires_at = "", None
        endpoint.secret = _secret(secret)
        endpoint.save()
    return endpoint


def endpoint_secrets(endpoint: Endpoint) -> list[str]:
    """The secrets that sign an endpoint's POSTs now: its secret, and the previous one during
    its grace period."""
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > timezone.now():
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


def endpoint_test(*, endpoint: Endpoint) -> EndpointDelivery:
    """A ``webhook.test`` event to the endpoint (whatever its filters), delivered like any other.
    409 when the endpoint is disabled."""
    if not endpoint.enabled:
        raise errors.Conflict("The endpoint is disabled: enable it first.")
    now = timezone.now()
    with transaction.atomic():
        delivery = EndpointDelivery.objects.create(
            endpoint=endpoint,
            event_type=events.WEBHOOK_TEST,
            payload={
                "type": events.WEBHOOK_TEST,
                "timestamp": now.isoformat(),
                "data": {"endpoint_id": str(endpoint.pk), "url": endpoint.url},
            },
        )
        events.delivery_defer(delivery)
    return delivery


def delivery_redeliver(*, delivery: EndpointDelivery) -> EndpointDelivery:
    """Send a delivered or failed delivery again, the same body under the same ``webhook-id``,
    with a new set of attempts. 409 while it is still pending, or when its endpoint is disabled."""
    if not delivery.endpoint.enabled:
        raise errors.Conflict("The endpoint is disabled: enable it first.")
    with transaction.atomic():
        updated = (
            EndpointDelivery.objects.filter(pk=delivery.pk)
            .exclude(status=EndpointDelivery.Status.PENDING)
            .update(status=EndpointDelivery.Status.PENDING, tries=0, error="", updated_at=timezone.now())
        )
        if not updated:
            raise errors.Conflict("The delivery is still pending: it is being sent.")
        events.delivery_defer(delivery)
    delivery.refresh_from_db()
    return delivery


def endpoint_delivery_end(*, delivery_id: Any, error: str) -> None:
    """A pending delivery fails without a POST (its endpoint was disabled meanwhile)."""
    EndpointDelivery.objects.filter(pk=delivery_id, status=EndpointDelivery.Status.PENDING).update(
        status=EndpointDelivery.Status.FAILED, error=error, updated_at=timezone.now()
    )


def endpoint_attempt_record(
    *,
    delivery_id: Any,
    status_code: int | None,
    error: str,
    refused: bool,
    duration_ms: int,
    response: str = "",
) -> None:
    """Record one POST of a delivery and decide what follows, in one transaction: delivered (a
    2xx); failed (refused, or its UAI_WEBHOOK_ATTEMPTS-th failure: said in ``error``); else
    ``retrying``, its next job deferred after the backoff."""
    with transaction.atomic():
        delivery = (
            EndpointDelivery.objects.select_for_update()
            .filter(pk=delivery_id, status=EndpointDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return  # deleted, or redelivered and sent meanwhile
        number = (delivery.attempts.aggregate(last=Max("attempt"))["last"] or 0) + 1
        delivered = status_code is not None and 200 <= status_code < 300
        if delivered:
            outcome = Delivery.Outcome.DELIVERED
            delivery.status = EndpointDelivery.Status.DELIVERED
            delivery.error = ""
        elif refused:
            outcome = Delivery.Outcome.REFUSED
            delivery.status = EndpointDelivery.Status.FAILED
            delivery.error = error
        else:
            delivery.tries += 1
            if delivery.tries >= settings.UAI_WEBHOOK_ATTEMPTS:
                outcome = Delivery.Outcome.FAILED
                delivery.status = EndpointDelivery.Status.FAILED
                delivery.error = f"Failed {delivery.tries} attempts: {error}"
            else:
                outcome = Delivery.Outcome.RETRYING
                delivery.error = error
        Delivery.objects.create(
            endpoint_delivery=delivery,
            attempt=number,
            outcome=outcome,
            status_code=status_code,
            error=error[:10_000],
            response=response,
            duration_ms=duration_ms,
        )
        delivery.save(update_fields=["status", "tries", "error", "updated_at"])
        metrics.webhook_posted(outcome=outcome, seconds=None if refused else duration_ms / 1000)
        if outcome == Delivery.Outcome.RETRYING:
            events.delivery_defer(delivery, schedule_in_seconds=backoff_seconds(delivery.tries))
