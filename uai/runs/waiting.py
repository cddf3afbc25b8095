"""Waiting for a run from request code: on the run's channel-layer group, with a DB re-check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection

from uai.runs import sink as sink_module
from uai.runs.models import Run

RECHECK_SECONDS = 1.0  # the DB is read again at least this often, in case a message was lost


def _status(run_id: Any) -> str | None:
    try:
        return Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    finally:
        release_connection()


def release_connection() -> None:
    """Give this thread's connection back to the pool: a waiting request must not hold one."""
    if not connection.in_atomic_block:
        connection.close()


async def await_run(run_id: Any, *, timeout: float, until: Iterable[str]) -> str | None:
    """Wait until the run's status is one of ``until`` (or ``timeout`` passes); return the status."""
    until = set(until)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = sink_module.run_group(run_id)
    await layer.group_add(group, channel)
    try:
        deadline = time.monotonic() + timeout
        status = await sync_to_async(_status)(run_id)
        while status is not None and status not in until:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                message = await asyncio.wait_for(
                    layer.receive(channel), timeout=min(remaining, RECHECK_SECONDS)
                )
            except TimeoutError:
                status = await sync_to_async(_status)(run_id)
                continue
            event = message.get("event") or {}
            if event.get("type") == "status":
                status = event["data"]["status"]
        return status
    finally:
        await layer.group_discard(group, channel)


def wait_for_run(run_id: Any, *, timeout: float, until: Iterable[str]) -> str | None:
    """``await_run`` for sync request code (its DB connection goes back to the pool meanwhile)."""
    release_connection()
    return async_to_sync(await_run)(run_id, timeout=timeout, until=until)


async def await_reply(channel: str, *, timeout: float) -> dict[str, Any] | None:
    """The first message on ``channel`` within ``timeout``, else None."""
    layer = get_channel_layer()
    try:
        return await asyncio.wait_for(layer.receive(channel), timeout=timeout)
    except TimeoutError:
        return None
