"""Keep procrastinate's job fetch linear in the queue's depth when its statistics are stale.

procrastinate's fetch function picks the next job with ``ORDER BY priority DESC, id LIMIT 1``
and a ``NOT EXISTS`` on jobs of the same lock. ``procrastinate_jobs`` is usually near empty (a
finished job is deleted), so ANALYZE often records it at a row or two over many pages. When a
backlog then arrives — runs queued faster than they run, a burst after a quiet spell — the
generic plan a worker's session keeps reads *every* waiting job, sorts them, and checks each
one against *every* waiting or running job: a fetch costs the depth squared until autoanalyze
(a minute or more away) corrects the estimate. Measured here: 400 queued runs, 13–21 ms per
fetch, 70–135 runs/s; 3,000 queued, not drained after four minutes. With sorting off inside
that function the plan reads the jobs in order off procrastinate's own ``(priority, id)`` index
and stops at the first it may take: 400 queued ~1,200 runs/s, 3,000 ~950 (PostgreSQL 15, 18).

The setting is the function's own (``ALTER FUNCTION … SET``): nothing else is planned
differently. procrastinate replaces its functions in its own migrations, so it is (re)applied
after every ``migrate``, to whichever function procrastinate's fetch query calls.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import DatabaseError, connections, transaction

logger = logging.getLogger(__name__)

SETTING = "enable_sort=off"
INSUFFICIENT_PRIVILEGE = "42501"  # not the function's owner: anything else fails migrate


def fetch_function() -> str:
    """The name of the function procrastinate's fetch query calls."""
    from procrastinate import sql

    match = re.search(r"\bFROM\s+(procrastinate_fetch_job\w*)\s*\(", sql.queries["fetch_job"])
    if match is None:  # procrastinate changed how it fetches: tests/test_fetch_plan.py says so
        raise LookupError("procrastinate's fetch_job query calls no procrastinate_fetch_job function")
    return match.group(1)


def steer_fetch_plan(*, using: str = "default") -> int:
    """Turn sorting off in procrastinate's fetch function(s) where it is not yet; how many changed.

    A role that may not alter the function (it does not own it) gets a warning, not a failed
    ``migrate``: the fetch then works as procrastinate ships it.
    """
    changed = 0
    connection = connections[using]
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT oid::regprocedure::text, proconfig FROM pg_proc"
            " WHERE proname = %s AND pg_function_is_visible(oid)",  # the one this search_path calls
            [fetch_function()],
        )
        for signature, config in cursor.fetchall():
            if SETTING in (config or []):
                continue
            try:
                with transaction.atomic(using=using):
                    # ``signature`` is PostgreSQL's own quoting of the function's name and arguments.
                    cursor.execute(f"ALTER FUNCTION {signature} SET enable_sort = off")
            except DatabaseError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
                    raise
                logger.warning(
                    "Could not set enable_sort = off on %s (%s): a deep job backlog will be fetched "
                    "slowly until PostgreSQL's statistics catch up. Run migrate as its owner.",
                    signature,
                    str(exc).strip(),
                )
                continue
            changed += 1
    return changed


def steer_fetch_plan_after_migrate(*, using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` hook."""
    try:
        steer_fetch_plan(using=using)
    except LookupError as exc:  # a procrastinate that fetches differently: nothing to steer
        logger.warning("%s", exc)
