"""Following a chat's or a run's events: replay from PostgreSQL, then live from the channel layer.

Lifecycle of a followed stream::

    subscribe to the group  →  replay events after ``after_seq`` from the Event table
    →  live events (any with a number already sent is dropped)
    →  end (caller stops, overflow, or the followed chat is deleted)

Subscribing before reading the table means nothing committed in between is missed, and the
sequence numbers make the overlap harmless: no gap, no duplicate. (A stream that follows from a
number its request has just written reads the table only when its live events say it must: see
``follow``'s ``fresh``.) A slow reader never blocks
anyone: live events wait in a bounded buffer, and when it overflows the stream ends with
``StreamOverflow`` so the client can reconnect with the last number it saw.

A channel layer delivers at most once (Redis Pub/Sub across a reconnect, a full channel), so
an event can be stored and never arrive live. A gap in a contiguous stream shows at the next
event; a lost *last* event (a turn's end) shows nowhere — the process's ``_Recheck`` finds it:
every ``UAI_STREAM_RECHECK_SECONDS`` one query for all the live followers of the process.

A chat's id is the client's choice, so a deleted chat's id may become another user's chat, with
the same group and numbers from 1 again. A chat's stream therefore ends with ``ChatGone`` when
its chat is deleted: at once, by the signal ``chat_delete`` publishes; and should that signal be
lost, at the next recheck that finds the chat gone or made anew (another ``created_at``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any, cast

from django.conf import settings
from django.db import connection

from uai.chats.models import Chat
from uai.runs import sink as sink_module
from uai.runs.dbcall import db
from uai.runs.models import Event, Run
from uai.runs.stream_events import StreamEvent, gap_event, past_end_event
from uai.runs.subscriptions import Subscription
from uai_project import errors

logger = logging.getLogger(__name__)

REPLAY_PAGE = 500  # events read from the table at a time
# How long a fresh stream waits for its first live event before it reads the table after all:
# only a turn that ended before its stream subscribed (a fraction of a millisecond after the
# turn was sent) waits this long.
FRESH_WAIT_SECONDS = 0.25


class StreamOverflow(errors.TooSlow):
    """The reader fell too far behind the live events; it must resume from its last number."""


class ChatGone(errors.Gone):
    """The followed chat was deleted: nothing more of it will come (its id may be reused)."""


class _Buffer:
    """The live events waiting for one reader: a bounded FIFO with one waiter.

    An idle follower (an open WebSocket) holds one of these for as long as it is connected; an
    ``asyncio.Queue`` would be four deques and an event (~3 KiB), this is a list and, only while
    the reader waits, a future.
    """

    __slots__ = ("_items", "_limit", "_waiter")

    def __init__(self, limit: int) -> None:
        self._items: list[dict[str, Any] | None] = []
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: dict[str, Any] | None) -> bool:
        """Add ``item``; False (and nothing added) when the buffer is full."""
        if len(self._items) >= self._limit:
            return False
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        return True

    def nudge(self, item: dict[str, Any]) -> None:
        """Add a marker for the reader, past the limit if need be (it is not an event)."""
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def overflow(self) -> None:
        """Drop what waits and leave only the overflow marker (None)."""
        self._items = [None]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> dict[str, Any] | None:
        """The oldest item, waiting for one if need be."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


# Put in a follower's buffer by the recheck: "look in the table after your last event".
_RECHECK: dict[str, Any] = {"recheck": True}
# Put in a follower's buffer when its chat was deleted: "end".
_GONE: dict[str, Any] = {"gone": True}


class _Watch:
    """A live follower as the recheck sees it: its stream, the last number it yielded, the last
    its buffer received, and the number the recheck last asked it to look for."""

    __slots__ = ("born", "buffer", "chat_id", "heard", "last", "mark", "run_id")

    def __init__(self, buffer: _Buffer, *, chat_id: str | None, run_id: str | None) -> None:
        self.buffer = buffer
        self.chat_id = chat_id  # the chat whose numbers the stream follows (a turn's: its chat's)
        self.run_id = run_id  # or a chat-less run's own numbers
        self.last = -1  # the last number the stream yielded
        self.heard = -1  # the last number its buffer received (a whole chat's or run's stream)
        self.mark = -1
        self.born: datetime.datetime | None = None  # its chat's created_at, once a recheck has seen the chat

    def number_in(self, chats: dict[str, int], runs: dict[str, int]) -> int | None:
        """Its stream's number in what ``_last_seqs`` read (None: not there)."""
        return chats.get(self.chat_id) if self.chat_id is not None else runs.get(self.run_id or "")


def _last_seqs(
    *, watches: list[_Watch]
) -> tuple[dict[str, int], dict[str, int], dict[str, datetime.datetime]]:
    """The last number of each chat and chat-less run the ``watches`` follow (gone ones left out),
    and when each of those chats was created (which tells a chat made anew under an old id)."""
    chat_ids = list({w.chat_id for w in watches if w.chat_id is not None})
    run_ids = list({w.run_id for w in watches if w.chat_id is None and w.run_id is not None})
    chats: dict[str, int] = {}
    runs: dict[str, int] = {}
    born: dict[str, datetime.datetime] = {}
    with connection.cursor() as cursor:
        if chat_ids:
            cursor.execute(
                f"SELECT id, last_seq, created_at FROM {Chat._meta.db_table} WHERE id = ANY(%s)", [chat_ids]
            )
            for pk, seq, created_at in cursor.fetchall():
                chats[pk], born[pk] = seq, created_at
        if run_ids:
            cursor.execute(
                f"SELECT id, last_seq FROM {Run._meta.db_table} WHERE id = ANY(%s::uuid[])", [run_ids]
            )
            runs = {str(pk): seq for pk, seq in cursor.fetchall()}
    return chats, runs, born


class _Recheck:
    """Finds, for every live follower of one event loop, events stored but never delivered.

    Every ``UAI_STREAM_RECHECK_SECONDS`` one query reads the last number of every followed chat
    and chat-less run. A follower still behind the number read at the *previous* check — an
    event committed a whole interval ago, so not merely in flight — is told to read the table
    after its last event (once per such number). So a lost ``message_end`` cannot keep a chat
    UI locked, nor a lost end an SSE stream open, whoever started the turn; and a thousand quiet
    streams cost one query per interval, not one each. The task runs while there are followers.
    """

    def __init__(self) -> None:
        self.watches: set[_Watch] = set()
        self.seen: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self.task: asyncio.Task[None] | None = None

    def add(self, watch: _Watch) -> None:
        self.watches.add(watch)
        if self.task is None:
            # In a context of its own, not the first follower's.
            loop = asyncio.get_running_loop()
            self.task = loop.create_task(self._run(), context=contextvars.Context())

    async def _run(self) -> None:
        try:
            while self.watches:
                await asyncio.sleep(settings.UAI_STREAM_RECHECK_SECONDS)
                try:
                    await self.check()
                except Exception:  # the database away for a moment: the next check tries again
                    logger.warning("stream recheck failed; trying again at the next one", exc_info=True)
        finally:
            # No await between the last look at the watches and here: add() starts a new task.
            # (A finished task would also keep its loop, and this object, alive for good.)
            self.seen = ({}, {})
            self.task = None

    async def check(self) -> None:
        """Compare every follower with the numbers read at the previous check; read them anew."""
        watches = list(self.watches)
        if not watches:
            return
        chats_before, runs_before = self.seen
        chats, runs, born = await db(_last_seqs, watches=watches)
        self.seen = (chats, runs)
        for watch in watches:
            if watch.chat_id is not None and _gone(watch, born):
                watch.buffer.nudge(_GONE)
                continue
            before = watch.number_in(chats_before, runs_before)
            if before is not None and before > max(watch.last, watch.heard, watch.mark):
                watch.mark = before
                watch.buffer.nudge(_RECHECK)


def _gone(watch: _Watch, born: dict[str, datetime.datetime]) -> bool:
    """Whether the chat ``watch`` follows was deleted (or made anew) since a recheck first saw it.

    A chat not there yet is not gone: a WebSocket may follow an id whose chat its first message
    creates.
    """
    created_at = born.get(watch.chat_id or "")
    if watch.born is None:
        watch.born = created_at
        return False
    return created_at != watch.born


_rechecks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Recheck] = weakref.WeakKeyDictionary()


def _recheck() -> _Recheck:
    """The recheck of the running event loop (a process has one; tests make many)."""
    loop = asyncio.get_running_loop()
    recheck = _rechecks.get(loop)
    if recheck is None:
        recheck = _rechecks[loop] = _Recheck()
    return recheck


def event_payload(event: Event) -> StreamEvent:
    """A stored event in the shape it was published in."""
    return cast(
        StreamEvent,
        {
            "seq": event.seq,
            "type": event.type,
            "chat_id": event.chat_id,
            "run_id": str(event.run_id) if event.run_id else None,
            "data": event.data,
            "created_at": event.created_at.isoformat(),
        },
    )


def _page(*, chat_id: str | None, run_id: Any, after_seq: int) -> list[StreamEvent]:
    qs = Event.objects.filter(seq__gt=after_seq)
    qs = qs.filter(chat_id=chat_id) if chat_id is not None else qs.filter(run_id=run_id)
    return [event_payload(e) for e in qs.order_by("seq")[:REPLAY_PAGE]]


def _catch_up(
    *, chat_id: str | None, run_id: Any, after_seq: int
) -> tuple[int | None, list[StreamEvent], int | None]:
    """What a stream resuming after ``after_seq`` starts with, in one trip to a DB thread: the
    first kept number if retention removed some (see ``_gap``), the first page from there, and
    the stream's last number when ``after_seq`` is past it (else None).

    Numbers are contiguous and retention removes the oldest, so a page that starts right after
    ``after_seq`` has nothing missing before it: the usual case (a client resuming from the last
    number it saw) costs one read, not three.
    """
    page = _page(chat_id=chat_id, run_id=run_id, after_seq=after_seq)
    if page and page[0]["seq"] == after_seq + 1:
        return None, page, None
    scope_chat, last = _last(chat_id=chat_id, run_id=run_id)
    if not page and after_seq > last:
        return None, page, last
    first_kept = _gap(chat_id=scope_chat, run_id=run_id, after_seq=after_seq, last=last)
    if first_kept is not None and not (page and page[0]["seq"] == first_kept):
        page = _page(chat_id=chat_id, run_id=run_id, after_seq=first_kept - 1)
    return first_kept, page, None


def _last(*, chat_id: str | None, run_id: Any) -> tuple[str | None, int]:
    """The chat whose numbers the stream follows (None: a chat-less run's own) and its last
    number (0: nothing yet — a WebSocket may follow a chat its first message creates).

    A turn's numbers are its chat's, so its chat tells.
    """
    last: int | None = None
    if chat_id is None:
        row = Run.objects.filter(pk=run_id).values_list("chat_id", "last_seq").first()
        if row is None:
            return None, 0
        chat_id, last = row[0] or None, row[1]
    if chat_id is not None:
        last = Chat.objects.filter(pk=chat_id).values_list("last_seq", flat=True).first()
    return chat_id, last or 0


def _gap(*, chat_id: str | None, run_id: Any, after_seq: int, last: int | None = None) -> int | None:
    """The first kept number when events after ``after_seq`` were removed by retention, else None.

    A chat's numbers are contiguous (every number taken is an event), so are a chat-less run's;
    ``chat_id`` and ``last`` are what ``_last`` found (read here without ``last``).
    """
    if last is None:
        chat_id, last = _last(chat_id=chat_id, run_id=run_id)
    if chat_id is not None:
        scope = Event.objects.filter(chat_id=chat_id)
    else:
        scope = Event.objects.filter(run_id=run_id, chat__isnull=True)
    if not last or after_seq >= last:
        return None
    first = scope.order_by("seq").values_list("seq", flat=True).first()
    first = first if first is not None else last + 1
    return first if first > after_seq + 1 else None


def _run_chat(*, run_id: Any) -> str | None:
    """The chat a run belongs to (a turn), or None (a task): a turn's events go to its chat's group."""
    return Run.objects.filter(pk=run_id).values_list("chat_id", flat=True).first()


async def follow(
    *,
    chat_id: str | None = None,
    run_id: Any = None,
    after_seq: int | None = None,
    idle_seconds: float | None = None,
    fresh: bool = False,
    chat_born: datetime.datetime | None = None,
) -> AsyncIterator[StreamEvent | None]:
    """Yield the stream's events after ``after_seq`` (None: only new ones), then live ones.

    ``fresh``: this request wrote or read ``after_seq`` a moment ago (its turn's message, the
    chat's last number), so what follows it is almost always still to come. On a contiguous
    stream (a chat's, a chat-less run's) the table is then not read at first: the first live
    event tells — the next number means nothing was missed, a later one is a gap read like any
    other — and only when none comes within ``FRESH_WAIT_SECONDS`` is the table read. (Nothing
    after a fresh number can have been removed by retention, which removes events by age.)

    With ``idle_seconds``, yields None after that long without an event (for keep-alives).

    ``chat_born``: the followed chat's ``created_at``, when the caller read the chat (to check its
    owner): from then on the stream knows its chat from one made anew under the same id;
    without it the stream learns it at its first recheck.
    """
    # A chat-less run's events are numbered on their own (contiguous); a turn's are its chat's,
    # published to the chat's group: they are picked out by run id.
    turn_chat = await db(_run_chat, run_id=run_id) if chat_id is None else None
    only_run = str(run_id) if turn_chat is not None else None
    contiguous = turn_chat is None
    if chat_id is not None:
        group = sink_module.chat_group(chat_id)
    elif turn_chat is not None:
        group = sink_module.chat_group(turn_chat)
    else:
        group = sink_module.run_group(run_id)
    buffer = _Buffer(settings.UAI_STREAM_BUFFER)
    watch = _Watch(buffer, chat_id=chat_id or turn_chat, run_id=None if chat_id or turn_chat else str(run_id))
    watch.born = chat_born
    subscription = Subscription(group)
    await subscription.open()
    pump_task: asyncio.Task[None] | None = None
    recheck: _Recheck | None = None
    unread = False  # a fresh start whose table is read only if no live event tells (see above)

    async def pump() -> None:
        while True:
            message = await subscription.get()
            if watch.chat_id is not None and message.get("gone") == watch.chat_id:  # its chat's end
                buffer.nudge(_GONE)
                return
            event = message.get("event")
            if event is None or (only_run is not None and event.get("run_id") != only_run):
                continue
            if not buffer.put(event):
                buffer.overflow()
                return
            if contiguous:
                # Heard, if not yet read: a lost event before it shows as a gap when it is read.
                watch.heard = max(watch.heard, event["seq"])

    async def replay(
        after: int, before: int | None = None, page: list[StreamEvent] | None = None
    ) -> AsyncIterator[StreamEvent]:
        """The table's events after ``after`` (and before ``before``); each one yielded is the
        stream's last number once the reader asks for the next."""
        while True:
            if page is None:
                page = await db(_page, chat_id=chat_id, run_id=run_id, after_seq=after)
            for event in page:
                if before is not None and event["seq"] >= before:
                    return
                yield event
                after = watch.last = event["seq"]
            if len(page) < REPLAY_PAGE:
                return
            page = None

    try:  # from here on, whatever ends the stream (the reader leaving mid-read) closes it
        pump_task = asyncio.create_task(pump())
        if after_seq is None:
            # "Only new ones": after the number the stream has now that it is subscribed, so a
            # first live event that goes missing is found like any other (gap, or recheck).
            chats, runs, born = await db(_last_seqs, watches=[watch])
            current = watch.number_in(chats, runs)
            watch.born = watch.born or born.get(watch.chat_id or "")
            watch.last = current if current is not None else -1
        elif fresh and contiguous:
            watch.last = after_seq
            unread = True
        else:
            watch.last = after_seq
            first_kept, page, last = await db(_catch_up, chat_id=chat_id, run_id=run_id, after_seq=after_seq)
            if last is not None:
                # A number the stream never reached (a client's counter from another chat, or
                # made up): every event to come would be "older" and dropped — a silent stream.
                # It follows from its real end instead, and says so.
                yield past_end_event(after_seq, last)
                watch.last = last
            if first_kept is not None:
                yield gap_event(after_seq, first_kept)
                watch.last = first_kept - 1
            async for stored in replay(watch.last, page=page):
                yield stored
        recheck = _recheck()
        recheck.add(watch)
        while True:
            try:
                timeout = idle_seconds
                if unread:
                    timeout = FRESH_WAIT_SECONDS if timeout is None else min(timeout, FRESH_WAIT_SECONDS)
                event = await asyncio.wait_for(buffer.get(), timeout=timeout)
            except TimeoutError:
                if unread:
                    # Nothing new yet: perhaps everything came before the subscription did.
                    unread = False
                    async for missed in replay(watch.last):
                        yield missed
                    continue
                yield None
                continue
            if event is None:
                raise StreamOverflow("the client read too slowly; resume from the last event id")
            if event is _GONE:
                raise ChatGone("The chat was deleted.")
            if event is _RECHECK:
                unread = False
                try:
                    async for missed in replay(watch.last):
                        yield missed
                except Exception:  # the database away for a moment: asked again at the next check
                    watch.mark = -1
                    logger.warning("stream re-read failed; trying again at the next recheck", exc_info=True)
                continue
            if event["seq"] <= watch.last:
                continue  # older (published late): says nothing about what follows after_seq
            unread = False  # the next number, or a gap read just below
            if contiguous and watch.last >= 0 and event["seq"] > watch.last + 1:
                # Published out of order (or dropped by a full channel): the table has them.
                async for missed in replay(watch.last, before=event["seq"]):
                    yield missed
            yield cast(StreamEvent, event)  # as the sink published it
            watch.last = event["seq"]
    finally:
        if recheck is not None:
            recheck.watches.discard(watch)
        if pump_task is not None:
            pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump_task
        await subscription.close()
