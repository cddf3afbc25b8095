"""Reads of runs and logs, always scoped to the asking user."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.http import QueryDict

from uai.runs.filters import RunFilter
from uai.runs.models import Event, Log, Run, Stat
from uai.runs.stream_events import EventType, StreamEvent
from uai.runs.streams import event_payload
from uai_project.api import parse_uuid
from uai_project.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from uai.chats.models import Chat


def run_get(*, user: Any, run_id: str) -> Run:
    """The user's run, or 404."""
    run = Run.objects.filter(pk=parse_uuid(run_id, "Run"), owner=user).first()
    if run is None:
        raise NotFound("Run not found.")
    return run


def run_find(*, run_id: Any) -> Run | None:
    """The run of that id, whoever owns it; None once it is gone (its chat deleted meanwhile)."""
    return Run.objects.filter(pk=run_id).first()


def run_list(*, user: Any, filters: QueryDict) -> list[Run]:
    """The user's runs, newest first, at most UAI_MAX_RUN_LIST, filtered as ``RunFilter`` reads
    ``filters`` (a request's query); 400 for a filter it cannot read."""
    filtered = RunFilter(filters, queryset=Run.objects.filter(owner=user).order_by("-created_at"))
    if not filtered.is_valid():
        raise InvalidInput(f"Invalid filter: {dict(filtered.errors)}")
    return list(filtered.qs[: settings.UAI_MAX_RUN_LIST])


def run_stats(*, run_id: Any) -> dict[str, Any]:
    """The figures a run's agent reported (tokens, …), merged in order: a later report of a
    figure wins (an OpenAI answer's ``usage``)."""
    merged: dict[str, Any] = {}
    for data in Stat.objects.filter(run_id=run_id).order_by("seq", "id").values_list("data", flat=True):
        if isinstance(data, dict):
            merged.update(data)
    return merged


def log_list(*, run: Run | None = None, chat: Chat | None = None, after_id: int | None = None) -> list[Log]:
    """A run's logs (the agent's and the clients') or a chat's, in order, optionally after a log id."""
    if run is not None:
        owner: dict[str, Any] = {"run_id": run.id}
    elif chat is not None:
        owner = {"chat_id": chat.id}
    else:
        raise TypeError("log_list reads the logs of a run or of a chat")
    qs = Log.objects.filter(**owner)
    if after_id is not None:
        anchor = Log.objects.filter(**owner, pk=after_id).values_list("seq", flat=True).first()
        if anchor is None:
            raise NotFound("Log not found.")
        qs = qs.filter(seq__gt=anchor)
    return list(qs.order_by("seq", "id"))


def log_newest(*, run_id: Any, after_seq: int, limit: int = 50) -> list[Log]:
    """A run's newest log lines after ``after_seq`` (at most ``limit``), oldest first."""
    rows = Log.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("-seq", "-id")[:limit]
    return list(reversed(rows))


def run_stream_ended(*, run: Run, after: int) -> bool:
    """Whether a stream of the run from ``after`` has nothing to wait for: the run has ended and
    its status events are all before ``after`` (its final status was seen, or retention removed
    it). A stream ends at that final status; what an agent cancelled meanwhile still wrote comes
    after it, and is no reason to stay open."""
    return (
        run.is_terminal
        and not Event.objects.filter(run_id=run.id, type=EventType.STATUS, seq__gt=after).exists()
    )


def run_last_question(*, run_id: Any) -> StreamEvent | None:
    """The run's latest ``input_required`` event (what it asked, a front-end tool's call with it)."""
    event = Event.objects.filter(run_id=run_id, type=EventType.INPUT_REQUIRED).order_by("-seq").first()
    return None if event is None else event_payload(event)


def run_events(*, run_id: Any) -> list[StreamEvent]:
    """Every stored event of a run, in order, as it was published: what a dialect replays to
    rebuild what a stream of the run showed (an OpenAI response's snapshot)."""
    return [event_payload(e) for e in Event.objects.filter(run_id=run_id).order_by("seq")]


TASK_EVENT_TYPES = (EventType.STATUS, EventType.STEP, EventType.ARTIFACT, EventType.INPUT_REQUIRED)

# A task's story in SQL: its status, step, artifact and question events as stored, and each stretch
# of deltas between two of them as one delta (texts joined, numbered as its last): as many rows as
# the run has steps, however many pieces its answers streamed in.
_STORY_SQL = """
WITH e AS (
    SELECT run_id, chat_id, seq, type, data, created_at,
           MAX(CASE WHEN type <> %(delta)s THEN seq END)
               OVER (PARTITION BY run_id ORDER BY seq) AS stretch
    FROM runs_event
    WHERE run_id = ANY(%(runs)s) AND type = ANY(%(types)s)
)
SELECT run_id, MAX(chat_id), MAX(seq) AS seq, %(delta)s,
       jsonb_build_object('text', string_agg(data->>'text', '' ORDER BY seq)), MAX(created_at)
FROM e WHERE type = %(delta)s GROUP BY run_id, stretch
UNION ALL
SELECT run_id, chat_id, seq, type, data, created_at FROM e WHERE type <> %(delta)s
ORDER BY 1, 3
"""


def task_stories(*, run_ids: list[Any]) -> dict[str, list[StreamEvent]]:
    """What an A2A task snapshot replays of each run, in one query: its events that say something
    to A2A (``TASK_EVENT_TYPES`` and its deltas), each stretch of deltas as one (the same
    artifacts, in far fewer rows than ``run_events``)."""
    found: dict[str, list[StreamEvent]] = {str(run_id): [] for run_id in run_ids}
    if not run_ids:
        return found
    params: dict[str, Any] = {
        "delta": str(EventType.DELTA),
        "runs": [uuid.UUID(str(run_id)) for run_id in run_ids],
        "types": [str(t) for t in (*TASK_EVENT_TYPES, EventType.DELTA)],
    }
    with connection.cursor() as cursor:
        cursor.execute(_STORY_SQL, params)
        rows = cursor.fetchall()
    for run_id, chat_id, seq, kind, data, created_at in rows:
        event = {
            "seq": int(seq),
            "type": kind,
            "chat_id": chat_id,
            "run_id": str(run_id),
            "data": json.loads(data) if isinstance(data, str) else data,
            "created_at": created_at.isoformat(),
        }
        found[str(run_id)].append(cast(StreamEvent, event))
    return found


def run_last_event(*, run_id: Any) -> int:
    """The number of the run's latest stored event (0 before its first): where a live-only
    follower of it starts."""
    seq = Event.objects.filter(run_id=run_id).order_by("-seq").values_list("seq", flat=True).first()
    return int(seq or 0)


def task_page(
    *,
    user: Any,
    agent_name: str,
    context_id: str | None = None,
    statuses: list[str] | None = None,
    updated_after: Any = None,
    before: tuple[Any, Any] | None = None,
    limit: int = 50,
) -> tuple[list[Run], bool, int]:
    """The user's turns (runs of a chat) with an agent, most recently updated first (A2A's
    ``ListTasks``): at most ``limit`` of them after the key ``before`` (the ``(updated_at, id)``
    of the previous page's last, None: from the first), whether more follow, and how many
    there are in all. A key, unlike an offset, neither repeats nor skips a task that stays put
    when another is updated between two pages."""
    runs = Run.objects.filter(owner=user, agent_id=agent_name, chat__isnull=False)
    if context_id:
        runs = runs.filter(chat_id=context_id)
    if statuses:
        runs = runs.filter(status__in=statuses)
    if updated_after is not None:
        runs = runs.filter(updated_at__gt=updated_after)
    total = runs.count()
    if before is not None:
        at, run_id = before
        runs = runs.filter(Q(updated_at__lt=at) | Q(updated_at=at, id__lt=run_id))
    page = list(runs.order_by("-updated_at", "-id")[: limit + 1])
    return page[:limit], len(page) > limit, total
