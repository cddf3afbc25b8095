"""The embedded mode's channel layer (one process): Channels' in-memory layer at a cost per
message that does not grow with the number of channels. Upstream sweeps every channel and group
membership for expired entries at each ``receive()`` and ``group_send()``, sends to a group's
members through a task each, and gives each channel an ``asyncio.Queue``. Every open WebSocket
follows its chat through a channel with a receive pending, so with N of them every event cost
O(N): a ``group_send`` and its ``receive`` took 30 µs with no other channel, 0.5 ms with 1,000
and 4.1 ms with 5,000. Here the sweep runs at most once a second, a ``group_send`` puts into
its members' buffers directly, and a channel is a list of messages and its waiters' futures.

A module of its own: the Redis layers' module imports channels-redis and redis-py, ~6.5 MiB of
an embedded server's idle memory that has no use for them.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer as BaseInMemoryChannelLayer


class _Channel:
    """One in-memory channel: ``(expires, message)`` pairs, oldest first, and its readers' futures."""

    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []
        self.waiters: list[asyncio.Future[None]] = []

    def wake(self) -> None:
        """Wake the first reader still waiting (it takes the oldest message)."""
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
                return


class InMemoryChannelLayer(BaseInMemoryChannelLayer):
    # Expired messages (and group memberships) are looked for at most this often.
    sweep_seconds = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every base method that reads channels is overridden here (flush only empties it).
        self.channels: dict[str, _Channel] = {}  # type: ignore[assignment]
        self._next_sweep = time.monotonic() + self.sweep_seconds

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self._put(channel, message)

    def _put(self, channel: str, message: dict[str, Any]) -> None:
        box = self.channels.get(channel)
        if box is None:
            box = self.channels[channel] = _Channel()
        capacity = self.get_capacity(channel)
        if 0 < capacity <= len(box.items):  # 0 or less: unbounded, as upstream's asyncio.Queue
            raise ChannelFull(channel)
        # A copy per receiver, as upstream (and a real layer's serialization) gives.
        box.items.append((time.time() + self.expiry, copy.deepcopy(message)))
        box.wake()

    async def receive(self, channel: str) -> dict[str, Any]:
        self.require_valid_channel_name(channel)
        self._sweep()
        box = self.channels.get(channel)
        if box is None:
            box = self.channels[channel] = _Channel()
        try:
            while not box.items:
                waiter = asyncio.get_running_loop().create_future()
                box.waiters.append(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled():
                        box.wake()  # woken for a message, then cancelled: it is the next reader's
                    raise
                finally:
                    box.waiters.remove(waiter)
            return box.items.pop(0)[1]
        finally:
            if not box.items and not box.waiters and self.channels.get(channel) is box:
                del self.channels[channel]

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._sweep()
        members = list(self.groups.get(group, ()))
        for channel in members:
            try:
                self._put(channel, message)
            except ChannelFull:
                pass
        if members:
            # One turn of the loop for the readers just woken before the sender goes on (as
            # upstream's send tasks gave): measured, the WebSocket's first step came ~0.5 ms later
            # without it.
            await asyncio.sleep(0)

    def _sweep(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_seconds
            self._clean_expired()

    def _clean_expired(self) -> None:
        """Drop expired messages (their channel leaves its groups, as upstream) and memberships."""
        now = time.time()
        for channel, box in list(self.channels.items()):
            expired = 0
            while expired < len(box.items) and box.items[expired][0] < now:
                expired += 1
            if expired:
                del box.items[:expired]
                self._remove_from_groups(channel)  # type: ignore[attr-defined]  # private: not in the stubs
                if not box.items and not box.waiters:
                    del self.channels[channel]
        joined_before = int(now) - self.group_expiry
        for group, members in list(self.groups.items()):
            for channel, joined in list(members.items()):
                if joined and joined < joined_before:
                    del members[channel]
            if not members:
                del self.groups[group]
