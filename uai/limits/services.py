"""The checks that keep a user within their limits where work and files are created.

Each runs inside the transaction that creates the run or stores the file, under a PostgreSQL
advisory lock of the user (released at commit): two requests of one user at once are counted one
after the other, so N + 1 starts at once give exactly N runs — no check-then-act race. The lock
is taken only when a limit is in force; what a user may have is read from their ``UserLimits``
row there and then (never stale).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from uai_project.errors import RateLimited, TooLarge

# Namespaces of the advisory locks (the first of two int4 keys; the second is the user's id).
_STARTS_LOCK = 0x55414901  # runs and turns
_STORAGE_LOCK = 0x55414902  # stored files
_KINDS = {  # (their columns are read by uai_start_slots)
    "task": ("max_concurrent_runs", "UAI_USER_MAX_CONCURRENT_RUNS", "runs"),
    "turn": ("max_concurrent_turns", "UAI_USER_MAX_CONCURRENT_TURNS", "chat turns"),
}


class StorageQuotaExceeded(TooLarge):
    """A file that would bring its owner over their storage quota (413). An agent's artifact
    over it fails its run, without another attempt (it would be refused the same way)."""

    openai_code = "storage_quota_exceeded"
    retryable = False


def _own(column: str, user_id: int) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM limits_userlimits WHERE user_id = %s", [user_id])
        row = cursor.fetchone()
    return None if row is None else row[0]


def _lock(namespace: int, user_id: int) -> None:
    if not connection.in_atomic_block:  # an xact lock outside a transaction ends with its statement
        raise RuntimeError("a limit is checked inside the transaction that it guards")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, user_id % 2**31])


def _slots(owner_id: int, kind: str) -> tuple[int, int]:
    """The user's limit of unfinished runs of ``kind`` (0: none) and how many they have, counted
    under their lock (held to the transaction's end) when there is a limit: one round trip
    (``uai_start_slots``, limits/migrations/0002)."""
    if not connection.in_atomic_block:  # an xact lock outside a transaction ends with its statement
        raise RuntimeError("a limit is checked inside the transaction that it guards")
    _, setting, _ = _KINDS[kind]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT start_limit, active FROM uai_start_slots(%s, %s, %s, %s, %s)",
            [_STARTS_LOCK, owner_id % 2**31, owner_id, kind, getattr(settings, setting)],
        )
        row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


def hold_starts(*, owner_id: int, kind: str) -> None:
    """Take the lock ``start_allowed`` takes (when a limit is in force): for a transaction that
    must take it before a lock of its own (the lock order)."""
    _slots(owner_id, kind)


def start_allowed(*, owner_id: int, kind: str) -> None:
    """Refuse (429, ``rate_limited``) a new run (``kind`` task) or turn past the user's limit of
    unfinished ones; call it in the transaction that inserts it."""
    _, setting, what = _KINDS[kind]
    limit, active = _slots(owner_id, kind)
    if limit and active >= limit:
        raise RateLimited(
            f"Too many {what} at once: at most {limit} unfinished (queued, running or waiting for "
            f"input) per user ({setting}, or the user's own limit). Try again when one has ended.",
            retry_after=settings.UAI_RETRY_AFTER_SECONDS,
        )


def storage_allowed(*, owner_id: int, adding: int, name: str) -> None:
    """Refuse (413) a file of ``adding`` bytes that would bring its owner's stored files over their
    quota; call it in the transaction that records the file."""
    own = _own("max_stored_bytes", owner_id)
    limit: int = settings.UAI_USER_MAX_STORED_BYTES if own is None else own
    if not limit:
        return
    _lock(_STORAGE_LOCK, owner_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(sum(size), 0) FROM artifacts_artifact WHERE owner_id = %s", [owner_id]
        )
        row = cursor.fetchone()
    stored = int(row[0]) if row is not None else 0
    if stored + adding > limit:
        raise StorageQuotaExceeded(
            f"Storage quota exceeded: {name!r} ({adding} bytes) would bring the user's stored files "
            f"to {stored + adding} bytes, over their quota of {limit} bytes "
            "(UAI_USER_MAX_STORED_BYTES, or the user's own). Delete files or chats first."
        )
