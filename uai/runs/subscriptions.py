"""A channel of this process in some channel-layer groups, for code that waits on events.

Every waiter in UAI — a REST turn awaiting its reply, a stream following a chat, a run waiting
for its input, an ephemeral call awaiting its result — opens one, reads it with timeouts and
closes it::

    async with Subscription(chat_group(chat_id)) as subscription:
        message = await subscription.get(timeout=1.0)  # None: nothing within a second

Closing matters. The distributed mode's pub/sub layer subscribes a channel in Redis at
``new_channel()`` and forgets it only when a ``receive()`` on it is cancelled (that is how
Channels' own consumers end); the list-based layer likewise drops a channel's buffer then. So a
subscription keeps one ``receive()`` pending across timeouts — never ``wait_for(receive(), t)``,
which under pub/sub would unsubscribe at every timeout and lose what arrived before the next
``receive()`` subscribed again — and cancels it when it closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, overload

from channels.layers import BaseChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

RELEASE_ATTEMPTS = 100  # receives tried at close while messages are still waiting
RELEASE_TIMEOUT_SECONDS = 5.0  # how long a close waits for the layer to end a cancelled receive


def channel_layer() -> BaseChannelLayer:
    """The default channel layer (the settings always configure one)."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS has no default layer")
    return layer


class Subscription:
    def __init__(self, *groups: str, layer: BaseChannelLayer | None = None) -> None:
        self.groups = groups
        self.layer = layer
        self.channel: str | None = None
        self._receiving: asyncio.Future[dict[str, Any]] | None = None

    async def __aenter__(self) -> Subscription:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> str:
        """Make the channel and add it to the groups; the channel's name."""
        if self.layer is None:
            self.layer = channel_layer()
        self.channel = await self.layer.new_channel()
        try:
            for group in self.groups:
                await self.layer.group_add(group, self.channel)
        except BaseException:  # failed or cancelled half way: nothing may stay subscribed
            await self.close()
            raise
        return self.channel

    @overload
    async def get(self, timeout: None = None) -> dict[str, Any]: ...
    @overload
    async def get(self, timeout: float) -> dict[str, Any] | None: ...

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message, or None when ``timeout`` seconds pass without one."""
        if self.layer is None or self.channel is None:
            raise RuntimeError("get() on a subscription that is not open")
        if self._receiving is None:
            self._receiving = asyncio.ensure_future(self.layer.receive(self.channel))
        done, _ = await asyncio.wait((self._receiving,), timeout=timeout)
        if not done:
            return None  # the receive stays pending for the next get()
        receiving, self._receiving = self._receiving, None
        return receiving.result()

    async def close(self) -> None:
        """Leave the groups and release the channel (what it still holds is dropped)."""
        if self.layer is None or self.channel is None:
            return
        layer, channel, self.channel = self.layer, self.channel, None
        receiving, self._receiving = self._receiving, None
        try:
            for group in self.groups:
                try:
                    await layer.group_discard(group, channel)
                except Exception:
                    logger.exception("could not leave channel-layer group %s", group)
        finally:
            await _release(layer, channel, receiving)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Take a finished receive's outcome, so asyncio does not report it as never retrieved."""
    if not future.cancelled():
        future.exception()


async def _release(layer: BaseChannelLayer, channel: str, receiving: asyncio.Future[Any] | None) -> None:
    """Cancel a pending receive on ``channel``: every layer lets the channel go then."""
    try:
        for _ in range(RELEASE_ATTEMPTS):
            if receiving is not None and receiving.done():
                if not receiving.cancelled():
                    receiving.exception()  # a message (dropped) or an error: retrieved either way
                receiving = None
            if receiving is None:
                # Nothing pending: start a receive to cancel. One that finds a message waiting
                # ends at once, and the next is tried.
                receiving = asyncio.ensure_future(layer.receive(channel))
                await asyncio.sleep(0)
                continue
            receiving.cancel()
            # Bounded: a layer whose own tasks are gone (its event loop shutting down, a Redis
            # connection that hangs) may never end the receive, and a close must not hang.
            done, _ = await asyncio.wait((receiving,), timeout=RELEASE_TIMEOUT_SECONDS)
            if not done:
                # Left to end on its own (cancelling it again would cut the layer's clean-up).
                logger.warning("a cancelled receive on %s has not ended; not waiting for it", channel)
                receiving.add_done_callback(_retrieve)
                receiving = None
            return
    finally:
        # Whatever interrupted this (the caller cancelled again), no receive is left pending.
        if receiving is not None and not receiving.done():
            receiving.cancel()
