"""The per-user request rate (UAI_USER_RATE, or the user's own) on every API.

A DRF throttle class for the API views (``DEFAULT_THROTTLE_CLASSES``), and ``hit`` for what is not
a DRF view: the native SSE streams and the WebSocket's turns. Both count in Django's cache (Redis
in the distributed mode, so the count holds across processes) as DRF's throttles do: the times of
the user's requests within the period, one read and one write a request — the user's own rate is
read in the same cache call. Over it: ``RateLimited`` (429 with ``Retry-After``).
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from uai.limits import rates, selectors
from uai_project.errors import RateLimited


def _history_key(user_id: int) -> str:
    return f"uai-rate-history:{user_id}"


def hit(user_id: int) -> None:
    """Count one request of the user; ``RateLimited`` when it is one too many."""
    limits_key, history_key = selectors.cache_key(user_id), _history_key(user_id)
    found = cache.get_many([limits_key, history_key])
    own = found.get(limits_key)
    rate = selectors.rate_of(selectors.own_rate(user_id) if own is None else own)
    if rate is None:
        return
    now = time.time()
    history: list[float] = found.get(history_key) or []
    while history and history[-1] <= now - rate.seconds:
        history.pop()
    if len(history) >= rate.requests:
        wait = max(1, math.ceil(rate.seconds - (now - history[-1])))
        raise RateLimited(
            f"Too many requests: at most {rates.describe(rate)} per user (UAI_USER_RATE, or the "
            f"user's own limit). Try again in {wait} s.",
            retry_after=wait,
        )
    history.insert(0, now)
    cache.set(history_key, history, rate.seconds)


class UserRateThrottle(BaseThrottle):
    """DRF's view of ``hit``: every authenticated request counts; anonymous ones (a public agent
    card) are not this limit's."""

    def allow_request(self, request: Any, view: Any) -> bool:
        """True, or ``RateLimited`` (rendered by each dialect's error handler)."""
        user = request.user
        if user is not None and user.is_authenticated:
            hit(user.pk)
        return True
