"""Reads of a user's own limits that every request makes: cached, forgotten when they change.

Only the request rate is read this way (``throttling`` asks on every request); the concurrency and
storage checks read the row itself, in the transaction they guard (``services``).
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.core.cache import cache

from uai.limits import rates
from uai.limits.models import UserLimits

logger = logging.getLogger(__name__)

# How long a user's own rate is kept in the cache. Changes through the admin forget it at once;
# this only bounds a change made behind its back (SQL, a restored backup).
CACHE_SECONDS = 60


def cache_key(user_id: int) -> str:
    """Where a user's own rate (``""``: none of their own) is cached."""
    return f"uai-limits:{user_id}"


def own_rate(user_id: int) -> str:
    """The user's own rate as written in the admin (``""``: the default), from the database;
    cached for the next request."""
    own = UserLimits.objects.filter(user_id=user_id).values_list("rate", flat=True).first() or ""
    cache.set(cache_key(user_id), own, CACHE_SECONDS)
    return own


def forget(user_id: int) -> None:
    """Drop the cached limits of a user whose limits changed."""
    cache.delete(cache_key(user_id))


@functools.cache
def _parsed(text: str) -> rates.Rate | None:
    """``text`` as a rate; None if it is none (once per text: it is asked on every request)."""
    try:
        return rates.parse_rate(text)
    except ValueError:
        # Written behind the admin's validation (SQL, the shell): the default holds, not a 500
        # on every request of the user. Said once per process and text, not per request.
        logger.warning("user limits: rate %r is not a rate; UAI_USER_RATE applies", text)
        return None


def rate_of(own: str) -> rates.Rate | None:
    """The rate in force for a user whose own rate is ``own``: theirs, else UAI_USER_RATE; None:
    no limit."""
    own = own.strip()
    if own.lower() == rates.NO_LIMIT:
        return None
    rate = _parsed(own) if own else None
    if rate is None and settings.UAI_USER_RATE:
        rate = _parsed(settings.UAI_USER_RATE)  # (checked at start-up)
    return rate
