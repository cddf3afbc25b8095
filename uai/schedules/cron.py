"""Cron expressions read in a time zone: checking one, and the next time it fires (DST-correct).

croniter walks the zone's wall clock. Two corrections make it what people expect of cron:

- a time the clock skips (02:30 on the night clocks go forward) fires when the clock jumps,
  at 03:00 — once, not never;
- a time the clock shows twice (02:30 on the night clocks go back) fires at its first
  occurrence only, when the hour field names hours; an expression whose hour field is ``*`` (every
  N minutes) goes on by the real clock, through the repeated hour.
"""

from __future__ import annotations

import datetime
import itertools
import zoneinfo
from collections.abc import Iterator

import croniter

SAMPLE_FIRINGS = 50  # the firings whose gaps are checked against the minimum interval


class CronError(ValueError):
    """An expression or time zone that cannot be used; its message says why."""


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Paris``, ``UTC``), or CronError."""
    if not name or not isinstance(name, str) or name != name.strip():
        raise CronError(f"Unknown time zone {name!r}: give an IANA name such as 'Europe/Paris' or 'UTC'.")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # (OSError: a name too long for a path)
        raise CronError(
            f"Unknown time zone {name!r}: give an IANA name such as 'Europe/Paris' or 'UTC'."
        ) from None


def check(expression: str) -> str:
    """The expression, normalised (fields separated by one space), or CronError."""
    fields = expression.split()
    if len(fields) not in (5, 6) and not (len(fields) == 1 and fields[0].startswith("@")):
        raise CronError(
            f"Invalid cron expression {expression!r}: give 5 fields (minute hour day month weekday), "
            "6 with seconds last, or @hourly, @daily, @weekly, @monthly, @yearly."
        )
    normalised = " ".join(fields)
    if not croniter.croniter.is_valid(normalised):
        raise CronError(f"Invalid cron expression {expression!r}.")
    return normalised


def _pins_hours(expression: str) -> bool:
    fields = expression.split()
    if len(fields) == 1:  # @hourly repeats with the hour; the others pin one
        return fields[0] not in ("@hourly",)
    return not fields[1].startswith("*")


def _second_occurrence(moment: datetime.datetime) -> bool:
    """Whether ``moment``'s wall-clock time was shown once already (the clock went back)."""
    earlier = moment.replace(fold=0)
    return earlier.utcoffset() != moment.utcoffset()


def _firings(expression: str, tz_name: str, after: datetime.datetime) -> Iterator[datetime.datetime]:
    """The times ``expression`` fires in ``tz_name`` after ``after`` (aware), in UTC, in order."""
    tz = zone(tz_name)
    walker = croniter.croniter(expression, after.astimezone(tz))
    pins = _pins_hours(expression)
    skipped = 0
    while True:
        try:
            moment: datetime.datetime = walker.get_next(datetime.datetime).astimezone(tz)
        except croniter.CroniterError:  # (croniter gives up looking: 31 February)
            raise CronError(f"Cron expression {expression!r} never fires.") from None
        if pins and _second_occurrence(moment) and skipped < 4:  # (a repeated hour, passed over)
            skipped += 1
            continue
        skipped = 0
        yield moment.astimezone(datetime.UTC)


def next_after(expression: str, tz_name: str, after: datetime.datetime) -> datetime.datetime:
    """The first time after ``after`` (aware) when ``expression`` fires in ``tz_name``, in UTC."""
    return next(_firings(expression, tz_name, after))


def smallest_gap_seconds(expression: str, tz_name: str, after: datetime.datetime) -> float:
    """The shortest time between two of the next SAMPLE_FIRINGS firings, in seconds."""
    times = list(itertools.islice(_firings(expression, tz_name, after), SAMPLE_FIRINGS))
    return min((b - a).total_seconds() for a, b in itertools.pairwise(times))
