"""Waiting for a run from request code: on its stream's channel-layer group, with a DB re-check.

A request that sends a turn and waits for it subscribes *before* sending (``TurnWatch``), so every
event of the turn reaches it; the reply can then be assembled from those events, and the tables
are read only when one is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection

from uai.runs import sink as sink_module
from uai.runs.models import Run
from uai.runs.stream_events import EventType, MessageData, StatusEvent, StreamEvent
from uai.runs.subscriptions import Subscription

T = TypeVar("T")

RECHECK_SECONDS = 1.0  # the DB is read again at least this often, in case a message was lost

# The waits in progress in this process. A sync request waits in a thread, on a task of the
# server's loop (async_to_sync): a server that stops its loop under such a wait left the thread
# blocked for good, and the process could not exit on SIGTERM (Python joins its threads).
_waits: set[asyncio.Task[Any]] = set()
_stopping = False  # set at shutdown: a wait that starts after it ends at once


class ServerStopping(Exception):
    """The server is shutting down: this request's wait ends (its run goes on in the workers)."""


def _status(run_id: Any) -> str | None:
    try:
        return Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    finally:
        release_connection()


def release_connection() -> None:
    """Give this thread's connection back to the pool: a waiting request must not hold one."""
    if not connection.in_atomic_block:
        connection.close()


def _group(run_id: Any, chat_id: str | None) -> str:
    # A turn's events are published to its chat's group only (see EventSink.groups).
    return sink_module.chat_group(chat_id) if chat_id is not None else sink_module.run_group(run_id)


async def _await_on(
    subscription: Subscription,
    run_id: Any,
    *,
    timeout: float,
    until: set[str],
    check_first: bool,
    received: list[StreamEvent] | None = None,
) -> str | None:
    run_id = str(run_id)
    deadline = time.monotonic() + timeout
    task = asyncio.current_task()
    if task is not None:
        _waits.add(task)
        task.add_done_callback(_waits.discard)
    if _stopping:
        raise ServerStopping("the server is shutting down")
    status = await sync_to_async(_status)(run_id) if check_first else Run.Status.QUEUED
    while status is not None and status not in until:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        message = await subscription.get(timeout=min(remaining, RECHECK_SECONDS))
        if message is None:
            status = await sync_to_async(_status)(run_id)
            continue
        event: StreamEvent | None = message.get("event")
        if event is None:
            continue
        if received is not None:
            received.append(event)
        if event["type"] == EventType.STATUS and event.get("run_id") == run_id:
            status = event["data"]["status"]
    return status


async def stop_waiting() -> None:
    """Cancel every wait of this process (at shutdown, while the loop still runs): the requests
    behind them end, and their threads with them; the runs go on in the workers. Waits that
    start after this (a request that arrived meanwhile) end at once."""
    global _stopping
    _stopping = True
    waits = [task for task in _waits if not task.done()]
    for task in waits:
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*waits, return_exceptions=True)


async def await_run(run_id: Any, *, chat_id: str | None, timeout: float, until: Iterable[str]) -> str | None:
    """Wait until the run's status is one of ``until`` (or ``timeout`` passes); return the status.

    ``chat_id`` is the run's chat (None for a task): a turn's events arrive on the chat's group.
    """
    async with Subscription(_group(run_id, chat_id)) as subscription:
        return await _await_on(subscription, run_id, timeout=timeout, until=set(until), check_first=True)


def wait_for_run(run_id: Any, *, chat_id: str | None, timeout: float, until: Iterable[str]) -> str | None:
    """``await_run`` for sync request code (its DB connection goes back to the pool meanwhile)."""
    release_connection()
    return async_to_sync(await_run)(run_id, chat_id=chat_id, timeout=timeout, until=until)


class TurnWatch:
    """A chat's events from before a turn is sent until it ends, for sync request code::

    watch = TurnWatch(chat.id)
    run, message = watch.send(lambda: services.chat_send(...), timeout=…, until=…)
    body = watch.reply(run.id, after_seq=message.seq - 1)  # None: read the tables

    Subscribing, sending (``send`` runs in the calling thread, in its transaction state) and
    waiting happen in one trip to the event loop, so the channel lives on one loop throughout.
    """

    def __init__(self, chat_id: str) -> None:
        self.group = sink_module.chat_group(chat_id)
        self.events: list[StreamEvent] = []
        self.status: str | None = None
        self.until: set[str] = set()

    def send(
        self, send: Callable[[], tuple[Run, T]], *, timeout: float, until: Iterable[str]
    ) -> tuple[Run, T]:
        """Subscribe, call ``send`` (which returns the turn's run first), then wait until the run
        reaches a status of ``until`` (or ``timeout``)."""
        return async_to_sync(self._send)(send, timeout, set(until))

    async def _send(
        self, send: Callable[[], tuple[Run, T]], timeout: float, until: set[str]
    ) -> tuple[Run, T]:
        def sent() -> tuple[Run, T]:
            result = send()
            release_connection()  # a waiting request must not hold one
            return result

        self.until = until
        async with Subscription(self.group) as subscription:
            result = await sync_to_async(sent)()
            self.status = await _await_on(
                subscription,
                result[0].id,
                timeout=timeout,
                until=until,
                check_first=False,
                received=self.events,
            )
        return result

    def reply(self, run_id: Any, *, after_seq: int) -> dict[str, Any] | None:
        """The turn's messages, artifacts and status from the events received — None when the
        events do not tell it all (one is missing, a message has files, the turn made artifacts,
        or it has not ended), and the caller reads the tables instead."""
        if self.status not in self.until:  # the wait timed out: the status is the last one heard
            return None
        run_id = str(run_id)
        by_seq = {e["seq"]: e for e in self.events if isinstance(e.get("seq"), int) and e["seq"] > after_seq}
        end: StatusEvent | None = None
        for e in sorted(by_seq.values(), key=lambda e: e["seq"]):
            if (
                e["type"] == EventType.STATUS
                and e.get("run_id") == run_id
                and e["data"]["status"] == self.status
            ):
                end = e
                break
        if end is None:
            return None
        messages = []
        for seq in range(after_seq + 1, end["seq"] + 1):
            event = by_seq.get(seq)
            if event is None:
                return None  # lost on the way: the table has it
            if event.get("run_id") != run_id:
                continue
            if event["type"] == EventType.ARTIFACT:
                return None
            message: MessageData | None = None
            if (
                event["type"] == EventType.MESSAGE
                or event["type"] == EventType.STEP
                or event["type"] == EventType.INPUT_REQUIRED
            ):
                message = event["data"].get("message")
            if message is not None:
                if message.get("files"):
                    return None  # file URLs are made for the request's host
                messages.append(message)
        return {
            "messages": messages,
            "artifacts": [],
            "run_id": run_id,
            "status": end["data"]["status"],
            "error": end["data"].get("error") or None,
        }
