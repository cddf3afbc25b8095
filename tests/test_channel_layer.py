"""The distributed mode's Redis channel layer forgets messages nobody will receive."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from asgiref.sync import async_to_sync

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="the Redis channel layer is the distributed mode's (REDIS_URL)"
)


def _layer(expiry: int) -> object:
    from uai_project.channel_layers import RedisChannelLayer

    return RedisChannelLayer(
        hosts=[os.environ["REDIS_URL"]], prefix=f"test-{uuid.uuid4().hex}", expiry=expiry
    )


def test_layer__a_buffer_nobody_reads_is_dropped_after_expiry() -> None:
    layer = _layer(expiry=1)

    async def scenario() -> tuple[int, int, dict]:
        reader, gone = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("g", reader)
        await layer.group_add("g", gone)  # a reader that left without leaving the group
        await layer.group_send("g", {"type": "uai.event", "n": 1})
        # The reader's receive also pulls the other channel's copy into that channel's buffer.
        await asyncio.wait_for(layer.receive(reader), 5)
        buffered_before = layer.receive_buffer[gone].qsize()
        await asyncio.sleep(1.2)  # older than expiry, and the sweep is due
        await layer.group_send("g", {"type": "uai.event", "n": 2})
        message = await asyncio.wait_for(layer.receive(reader), 5)
        await layer.flush()
        return buffered_before, layer.receive_buffer[gone].qsize(), message

    buffered_before, buffered_after, message = async_to_sync(scenario)()
    assert buffered_before == 1  # channels-redis keeps it: it would stay for the life of the process
    assert buffered_after == 1  # only the second message: the first, unread past expiry, is gone
    assert message["n"] == 2  # and the live reader still gets its messages


def test_layer__a_waiting_reader_keeps_its_buffer_past_expiry() -> None:
    layer = _layer(expiry=1)

    async def scenario() -> dict:
        slow, other = await layer.new_channel(), await layer.new_channel()
        waiting = asyncio.create_task(layer.receive(slow))
        await asyncio.sleep(1.5)  # the slow reader has been waiting longer than expiry
        receiving = asyncio.create_task(layer.receive(other))
        await layer.send(other, {"type": "uai.event", "to": "other"})
        await asyncio.wait_for(receiving, 5)
        await layer.send(slow, {"type": "uai.event", "to": "slow"})
        message = await asyncio.wait_for(waiting, 5)
        await layer.flush()
        return message

    assert async_to_sync(scenario)()["to"] == "slow"
