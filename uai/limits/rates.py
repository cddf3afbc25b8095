"""Request rates as settings and operators write them: ``"600/min"`` (DRF's form) or ``"30/10s"``."""

from __future__ import annotations

import re
from typing import NamedTuple

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# "N/period": the period's first letter s, m, h or d (DRF reads "min", "minute", "hour"… alike),
# optionally after a count of them ("30/10s": 30 requests in any 10 seconds).
RATE = re.compile(r"([1-9]\d*)/([1-9]\d*)?([smhd])[a-z]*")
NO_LIMIT = "none"  # a user's own rate that lifts the default


class Rate(NamedTuple):
    """``requests`` at most in any ``seconds``."""

    requests: int
    seconds: int


def parse_rate(text: str) -> Rate:
    """The rate ``text`` says; ValueError when it is not one."""
    found = RATE.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"A rate looks like 600/min or 30/10s, not {text!r}.")
    count, multiple, unit = found.groups()
    return Rate(int(count), int(multiple or 1) * UNIT_SECONDS[unit])


def describe(rate: Rate) -> str:
    """``"600 a minute"``, ``"30 in 10 s"``."""
    named = {1: "a second", 60: "a minute", 3600: "an hour", 86400: "a day"}
    per = named.get(rate.seconds, f"in {rate.seconds} s")
    return f"{rate.requests} {per}"
