"""Claiming a key, keeping the answer of its first request, and pruning expired keys.

A key's row is inserted (committed) before its request runs, so a second request with the same
key, at once or later, finds it: it never runs the request again. Once the first answer is known
it is kept on the row and every retry gets it back. A process that died between the two left
the key claimed without an answer: retries get 409 until the key expires (the request may have
created something, so running it again could create it twice).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from uai.idempotency.models import IdempotencyKey
from uai_project import auth
from uai_project.sql import columns, first

# Headers of the first answer that are not replayed: the server sets them per response.
UNKEPT_HEADERS = frozenset(
    {"date", "server", "set-cookie", "content-length", "transfer-encoding", "connection"}
)


@dataclasses.dataclass(frozen=True)
class Claimed:
    """This request holds the key: run it, then keep its answer."""

    pk: int


@dataclasses.dataclass(frozen=True)
class Found:
    """The key was used before: the row as it is (answered, still running, or another request)."""

    row: IdempotencyKey


def idempotency_claim(*, user_id: int, key: str, fingerprint: str, method: str, path: str) -> Claimed | Found:
    """Insert the key's row, or find the one there: one statement in the usual case."""
    for _ in range(2):  # (twice: an expired row found on the first try is deleted)
        now = timezone.now()
        expires = now + datetime.timedelta(seconds=settings.UAI_IDEMPOTENCY_TTL_SECONDS)
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_SQL, [user_id, key, fingerprint, method, path, now, expires])
            inserted = cursor.fetchone()
        if inserted is not None:
            return Claimed(pk=inserted[0])
        row = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
        if row is None:
            continue  # deleted (expired, pruned) between the two statements
        if row.expires_at > now:
            return Found(row)
        IdempotencyKey.objects.filter(pk=row.pk, expires_at__lte=now).delete()
    raise RuntimeError("idempotency key claimed and released concurrently twice")  # pragma: no cover


def idempotency_claim_as(
    *, token: str, key: str, fingerprint: str, method: str, path: str
) -> tuple[tuple[Any, Any], Claimed | Found]:
    """``idempotency_claim`` for the user of an API token, found in the same statement: the
    (user, token) as ``auth.user_for_credential`` gives them, and the claim. A keyed request costs
    no round trip more than one without a key would, in the usual case (the key is new).
    ``AuthenticationFailed`` for a token that is no good (nothing is claimed then)."""
    now = timezone.now()
    expires = now + datetime.timedelta(seconds=settings.UAI_IDEMPOTENCY_TTL_SECONDS)
    found = first(get_user_model(), _claim_as_sql(), [token, key, fingerprint, method, path, now, expires])
    user, credential = auth.token_user(found, token)
    claimed_id = getattr(found, "claimed_id", None)
    if claimed_id is not None:
        return (user, credential), Claimed(pk=claimed_id)
    # Used before (or expired): found as a key of a user already known is.
    return (user, credential), idempotency_claim(
        user_id=user.pk, key=key, fingerprint=fingerprint, method=method, path=path
    )


@functools.cache
def _claim_as_sql() -> str:
    users = get_user_model()._meta
    is_active = users.get_field("is_active").column
    return (
        f"WITH tok AS ({auth.USER_OF_TOKEN}), claimed AS ("
        f"INSERT INTO {_TABLE} (user_id, key, fingerprint, method, path, created_at, expires_at,"
        f" streaming, headers) SELECT tok.\"{users.pk.column}\", %s, %s, %s, %s, %s, %s, false, '[]'"
        f' FROM tok, {_ASYNC_COMMIT} WHERE tok."{is_active}"'
        " ON CONFLICT (user_id, key) DO NOTHING RETURNING id)"
        f" SELECT {columns(get_user_model(), 'tok')}, tok.token_created,"
        " (SELECT id FROM claimed) AS claimed_id FROM tok"
    )


_TABLE = IdempotencyKey._meta.db_table
# Both writes commit without waiting for the disk (synchronous_commit off, for their own
# transaction only): PostgreSQL writes its log in order, so the turn's own commit, which does
# wait, makes the key's claim before it durable too; an answer lost to a crash leaves the key
# claimed, which a crash mid-request does anyway. Two disk flushes fewer on every keyed request.
_ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
_INSERT_SQL = (
    f"INSERT INTO {_TABLE} (user_id, key, fingerprint, method, path, created_at, expires_at,"
    " streaming, headers) SELECT %s, %s, %s, %s, %s, %s, %s, false, '[]'"
    f" FROM {_ASYNC_COMMIT} ON CONFLICT (user_id, key) DO NOTHING RETURNING id"
)
_ANSWER_SQL = (
    f"UPDATE {_TABLE} SET status_code = %s, headers = %s, body = %s FROM {_ASYNC_COMMIT} WHERE id = %s"
)


def idempotency_answer(*, pk: int, status: int, headers: list[tuple[str, str]], body: bytes | None) -> None:
    """Keep the first request's answer (``body`` None: too large to keep)."""
    kept = [[name, value] for name, value in headers if name.lower() not in UNKEPT_HEADERS]
    with connection.cursor() as cursor:
        cursor.execute(_ANSWER_SQL, [status, json.dumps(kept), body, pk])


def idempotency_streaming(*, pk: int) -> None:
    """Mark the key's answer as a stream being sent: retries are told so until it ends."""
    IdempotencyKey.objects.filter(pk=pk).update(streaming=True)


def idempotency_release(*, pk: int) -> None:
    """Forget the key: its request did not run (signed out, throttled) or failed unexpectedly."""
    with transaction.atomic():
        IdempotencyKey.objects.filter(pk=pk, status_code__isnull=True).delete()


def idempotency_get(*, pk: int) -> IdempotencyKey | None:
    """The key's row as it is now."""
    return IdempotencyKey.objects.filter(pk=pk).first()


def prune_idempotency_keys(*, now: datetime.datetime | None = None) -> int:
    """Delete expired keys; return how many."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def answered(row: IdempotencyKey) -> bool:
    """Whether the row holds its first request's answer."""
    return row.status_code is not None


def headers_of(row: IdempotencyKey) -> list[tuple[str, str]]:
    """The kept headers, as pairs."""
    value: Any = row.headers or []
    return [(str(name), str(text)) for name, text in value]
