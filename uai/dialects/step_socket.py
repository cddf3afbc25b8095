"""The WebSocket step protocol of seed 001, at ``/chat/{chat_id}``.

Client → server: ``{"type": "client", "message", "message_id"}`` starts a turn (or answers the
agent's question; an optional ``double_texting`` says what it does while a turn is going — a
refused one gets an ``agent_error`` with ``code`` ``conflict`` and the going turn's ``run_id``); ``{"type": "resume", "after_seq": N}`` replays what came after N (an N past the
chat's last number gets an ``agent_error`` whose ``seq`` is that number, and the socket follows
from there: the next turn's frames come as usual).
Server → client: ``agent_step`` frames, then ``message_end``; ``agent_error`` when the agent fails
(followed by ``message_end``, so a UI unlocks its input) or a frame is malformed. Every frame carries
``seq``, the chat's event number.

Lifecycle of a connection::

    handshake (token, origin, ownership)  →  accept  →  wait up to START_WINDOW for a first
    frame  →  follow the chat from the number it had at connect (or from a resume's after_seq)
    →  frames until the client leaves (its turns go on without it)

An event lost on the way (the channel layer delivers at most once) reaches the connection all
the same: its follower is one of those ``streams`` rechecks, so a UI cannot stay locked on a
lost ``message_end``, whoever started the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from uai.agents import events as ev
from uai.agents import selectors as agent_selectors
from uai.chats import selectors, services
from uai.chats.models import Message
from uai.limits import throttling
from uai.runs import streams
from uai.runs.dbcall import db
from uai.runs.models import Run
from uai.runs.stream_events import (
    EventType,
    GapEvent,
    InputRequiredEvent,
    MessageEvent,
    StatusEvent,
    StepEvent,
    StreamEvent,
)
from uai_project import errors, parsers
from uai_project.api import BIGINT_MAX, whole_number
from uai_project.errors import Conflict, ErrorCode, UAIError

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
    from channels.consumer import _ChannelScope

logger = logging.getLogger(__name__)

START_WINDOW_SECONDS = 0.3  # how long a new connection waits for a resume before going live
# The close code of an error that refuses a handshake or ends a connection: 4000 + its HTTP
# status (a chat deleted while followed: 4404, as one never there), but 4008 and 4013 for
# WebSocket's own 1008 (policy) and 1013 (try again later), which daphne cannot send. An error
# that leaves the connection open is said in an ``agent_error`` frame.
CLOSE_CODES = errors.transport_table(
    "seed 001 WebSocket",
    {
        ErrorCode.INVALID: 4400,
        ErrorCode.NOT_AUTHENTICATED: 4401,
        ErrorCode.FORBIDDEN: 4403,
        ErrorCode.NOT_FOUND: 4404,
        ErrorCode.METHOD_NOT_ALLOWED: 4405,
        ErrorCode.CONFLICT: 4409,
        ErrorCode.TOO_LARGE: 4413,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE: 4415,
        ErrorCode.RATE_LIMITED: 4429,
        ErrorCode.TIMEOUT: 4504,
        ErrorCode.UNAVAILABLE: errors.WS_CLOSE_TRY_AGAIN,  # the database away a moment: reconnect, resume
        ErrorCode.AGENT_FAILED: 4502,
        ErrorCode.SERVER_ERROR: 4500,
        ErrorCode.TOO_SLOW: 4008,  # said first in an agent_error frame: resume from the last seq
        ErrorCode.GONE: 4404,  # said first in an agent_error frame: the chat was deleted while followed
    },
)
CLOSE_TRY_AGAIN = CLOSE_CODES[ErrorCode.UNAVAILABLE]
FRAMED_STATUSES = frozenset(Run.TURN_ENDS)  # the statuses a client gets a frame for
# Said to a connection that came without credentials: accepted, told in an ``agent_error`` frame
# (and the close frame's reason, where the server carries one: daphne drops it), then closed 4401
# — a refused handshake (an HTTP 403) tells a client nothing.
NO_CREDENTIALS_REASON = "Sign in: add ?token=<API token> to the URL, or send the session cookie."


def _first(query: dict[str, list[str]], name: str) -> str | None:
    """The first value of a query parameter (None: not given)."""
    values = query.get(name)
    return values[0] if values else None


def _after_seq(raw: str | None) -> int | None:
    """``?after_seq=``: a number to resume after; anything else is no number (follow from now)."""
    try:
        return whole_number(raw, "after_seq") if raw is not None else None
    except UAIError:
        return None


def _agent_exists(name: str) -> bool:
    try:
        agent_selectors.agent_get(name=name)
    except UAIError:
        return False
    return True


def _send_turn(
    *,
    user_id: int,
    chat_id: str,
    agent_name: str | None,
    text: str,
    message_id: str,
    double_texting: str | None = None,
) -> str:
    if double_texting is not None:
        services.valid_double_texting(double_texting)  # (before the chat is made for a bad frame)
    throttling.hit(user_id)  # a turn sent is a request: UAI_USER_RATE (an agent_error past it)
    chat = services.chat_find_or_create(owner_id=user_id, chat_id=chat_id, agent_name=agent_name)
    if chat.owner_id != user_id:
        raise Conflict("This chat belongs to another user.")
    run, _ = services.chat_send(
        chat=chat, text=text, client_message_id=message_id, double_texting=double_texting
    )
    return str(run.id)


class ChatStepConsumer(AsyncWebsocketConsumer):
    """One client connection to one chat."""

    # The chat's events reach the connection through its follower's channel (streams.follow), so
    # the consumer takes no channel of its own: an unconfigured alias means none (one channel and
    # one waiting task less per connection, which is what an idle connection is made of).
    channel_layer_alias = "uai-consumer-without-channel"

    async def __call__(
        self, scope: _ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """Channels' consumer loop for a consumer without a channel: each client message is
        awaited in this task. Channels' own loop (``await_many_dispatch``) keeps a task and an
        ``asyncio.wait`` pending for it, ~1.6 KiB of every idle connection's memory.

        However it ends — the client's disconnect, or the server cancelling the application (at
        shutdown, or when it outlives the connection) — the follower ends with it.
        """
        self.scope = scope
        self.channel_layer = None  # type: ignore[assignment]  # as Channels does for an alias with no layer; the stub forbids None
        self.base_send = send
        try:
            with contextlib.suppress(StopConsumer):
                while True:
                    await self.dispatch(await receive())  # type: ignore[arg-type]  # stub: receive gives TypedDicts, dispatch wants a dict
        except Exception as error:
            # The database or Redis away as a frame is handled (a turn sent, the handshake's
            # lookup): 4013, for the client to reconnect and resume, not 1011 and a traceback.
            if errors.outage(error) is None:
                raise
            logger.warning(
                "chat %s: %s unreachable; closing its socket with 4013", scope["path"], errors.outage(error)
            )
            with contextlib.suppress(Exception):  # the client may have gone meanwhile
                if not self.accepted:
                    await self.accept()
                await self.close(code=CLOSE_TRY_AGAIN)
        finally:
            await self._stop_following()

    accepted = False
    live = False  # ``?live=1``: the page's frames too (set at connect)

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Accept the connection (and remember it: a close before acceptance is a refusal)."""
        self.accepted = True
        await super().accept(subprotocol, headers)

    async def connect(self) -> None:
        """Authenticate, check the chat id and its owner, then accept."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()
            hint = {"type": "agent_error", "error": NO_CREDENTIALS_REASON}
            await self.send(
                text_data=json.dumps({**hint, "chat_id": self.scope["url_route"]["kwargs"]["chat_id"]})
            )
            await self.close(code=CLOSE_CODES[ErrorCode.NOT_AUTHENTICATED], reason=NO_CREDENTIALS_REASON)
            return
        self.user_id: int = user.pk
        self.chat_id: str = self.scope["url_route"]["kwargs"]["chat_id"]
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        self.agent_name = _first(query, "agent")
        # ``?live=1`` (the chat page): progress, log, artifact and status frames besides seed
        # 001's, all of them of types the seed does not have (``uai_…``). Without it, the frames
        # are exactly the seed's.
        self.live = _first(query, "live") == "1"
        try:
            services.validate_chat_id(self.chat_id)
        except UAIError:
            await self.close(code=CLOSE_CODES[ErrorCode.INVALID])
            return
        if self.agent_name is not None and "\x00" in self.agent_name:  # PostgreSQL cannot compare it
            await self.close(code=CLOSE_CODES[ErrorCode.INVALID])
            return
        owner_id, last_seq, self.chat_born = await db(selectors.chat_head, chat_id=self.chat_id)
        self.checked_at = asyncio.get_running_loop().time()
        if owner_id is not None and owner_id != self.user_id:
            await self.close(code=CLOSE_CODES[ErrorCode.FORBIDDEN])
            return
        if owner_id is None and self.agent_name and not await db(_agent_exists, name=self.agent_name):
            await self.close(code=CLOSE_CODES[ErrorCode.INVALID])
            return
        self.message_ids: dict[str, str] = {}
        self.sent_first: int | None = None  # numbers sent on this connection: [sent_first, sent_last]
        self.sent_last = -1
        self.follower: asyncio.Task[None] | None = None
        self.starter: asyncio.TimerHandle | None = None
        self.connect_seq = last_seq  # "live" means: everything after this
        # A chat nobody had at connect may be created by another user (ids are the clients'):
        # its first event is checked before anything of it reaches this socket.
        self.unclaimed = owner_id is None
        await self.accept()
        after = _after_seq(_first(query, "after_seq"))
        if after is not None:
            self._follow(after)
        else:
            self.starter = asyncio.get_running_loop().call_later(
                START_WINDOW_SECONDS, lambda: self._follow(None)
            )

    async def disconnect(self, code: int) -> None:
        """Stop following; the chat's turns go on."""
        await self._stop_following()

    async def _stop_following(self) -> None:
        starter = getattr(self, "starter", None)
        if starter is not None:
            starter.cancel()
        follower = getattr(self, "follower", None)
        if follower is not None:
            self.follower = None
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Dispatch a client frame by its ``type``."""
        try:
            frame = parsers.loads(text_data if text_data is not None else (bytes_data or b"").decode())
        except (json.JSONDecodeError, UnicodeDecodeError):
            await self._error("Frames must be JSON objects.")
            return
        except UAIError as exc:  # nested too deep, a NUL character: the socket stays open
            await self._error(exc.detail)
            return
        if not isinstance(frame, dict):
            await self._error("Frames must be JSON objects.")
            return
        kind = frame.get("type")
        if kind == "client":
            await self._client(frame)
        elif kind == "resume":
            after = frame.get("after_seq")
            if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= BIGINT_MAX:
                # (past bigint, PostgreSQL cannot compare it: the stream failed, closed with 1013)
                await self._error(f"resume needs after_seq, a whole number from 0 to {BIGINT_MAX}.")
                return
            # The chat may have been deleted since connect and its id taken by someone else: a
            # resume replays from the table, so it asks who has the chat now — unless it was
            # asked a moment ago (a browser resumes right after every connect).
            if asyncio.get_running_loop().time() - self.checked_at > START_WINDOW_SECONDS:
                owner_id, _, self.chat_born = await db(selectors.chat_head, chat_id=self.chat_id)
                self.checked_at = asyncio.get_running_loop().time()
                if owner_id is not None and owner_id != self.user_id:
                    await self.close(code=CLOSE_CODES[ErrorCode.FORBIDDEN])
                    return
                self.unclaimed = owner_id is None
            self._follow(after)
        else:
            await self._error(f"Unknown frame type {kind!r}: expected 'client' or 'resume'.")

    async def _client(self, frame: dict[str, Any]) -> None:
        message, message_id = frame.get("message"), frame.get("message_id")
        if not isinstance(message, str):
            await self._error("'message' is required and must be a string.", message_id)
            return
        if not isinstance(message_id, str) or not message_id:
            await self._error("'message_id' is required and must be a non-empty string.")
            return
        double_texting = frame.get("double_texting")
        if self.follower is None:  # a first frame that is not a resume: go live now
            self._follow(None)
        try:
            run_id = await db(
                _send_turn,
                user_id=self.user_id,
                chat_id=self.chat_id,
                agent_name=self.agent_name,
                text=message,
                message_id=message_id,
                double_texting=double_texting,
            )
        except UAIError as exc:
            # (a turn refused by double_texting reject: its code, and the going turn's run_id)
            await self._error(exc.detail, message_id, code=exc.code.value, **exc.extra)
            return
        self.message_ids.setdefault(run_id, message_id)

    def _follow(self, after_seq: int | None) -> None:
        """(Re)start following the chat after ``after_seq`` (None: from the number at connect)."""
        starter = getattr(self, "starter", None)
        if starter is not None:
            starter.cancel()
            self.starter = None
        if self.follower is not None:
            if after_seq is None:
                return
            self.follower.cancel()
        self.follower = asyncio.create_task(self._pump(after_seq))

    async def _pump(self, after_seq: int | None) -> None:
        if after_seq is None:
            after_seq = self.connect_seq
        try:
            async for event in streams.follow(
                chat_id=self.chat_id, after_seq=after_seq, chat_born=self.chat_born
            ):
                if event is None:
                    continue
                if event["type"] == EventType.PAST_END:
                    # Resumed past the chat's end: told so (with the number it really has, as
                    # ``seq``), and followed from there — the next turn's frames come as usual.
                    # (Nothing of the chat in it: no need to know whose the chat is.)
                    await self._error(event["data"]["detail"], seq=event["seq"])
                    continue
                if self.unclaimed and not await self._ours():
                    return
                if self.sent_first is not None and self.sent_first <= event["seq"] <= self.sent_last:
                    continue  # already sent on this connection
                for frame in await self._frames(event):
                    await self.send(text_data=json.dumps(frame))
                if self.sent_first is None:
                    self.sent_first = event["seq"]
                self.sent_last = max(self.sent_last, event["seq"])
        except (streams.StreamOverflow, streams.ChatGone) as exc:
            await self._error(exc.detail)
            await self.close(code=CLOSE_CODES[exc.code])
        except DatabaseError:
            # Left open, the socket would hear nothing more (not even the turn's message_end):
            # closed, the client reconnects and resumes from its last number.
            logger.warning("following chat %s failed; closing its socket", self.chat_id, exc_info=True)
            with contextlib.suppress(Exception):  # the client may have gone meanwhile
                await self.close(code=CLOSE_TRY_AGAIN)

    async def _ours(self) -> bool:
        """Whether the chat, which had no owner at connect, is this user's (else: closed 4403)."""
        owner_id, _, _born = await db(selectors.chat_head, chat_id=self.chat_id)
        if owner_id == self.user_id:
            self.unclaimed = False
            return True
        await self.close(code=CLOSE_CODES[ErrorCode.FORBIDDEN])
        return False

    async def _frames(self, event: StreamEvent) -> list[dict[str, Any]]:
        """Seed 001's frames for one event (most events have none): see ``FRAMES``; on a live
        connection, the page's own frames come first (see ``LIVE_FRAMES``)."""
        translate = FRAMES.get(event["type"])
        frames = [] if translate is None else await translate(self, event)
        if self.live and event["type"] in LIVE_FRAMES:
            frames = [self._live_frame(event), *frames]
        return frames

    def _live_frame(self, event: StreamEvent) -> dict[str, Any]:
        """The page's frame of an event: ``uai_`` + its type, its data, its run and number."""
        data: Any = event["data"]
        kept = {key: data[key] for key in LIVE_FRAMES[event["type"]] if key in data}
        return {"type": f"uai_{event['type']}", **kept, "run_id": event.get("run_id"), **self._base(event)}

    async def _gap_frames(self, event: GapEvent) -> list[dict[str, Any]]:
        return [{"type": "stream_gap", "chat_id": self.chat_id, "seq": event["seq"], **event["data"]}]

    async def _message_frames(self, event: MessageEvent) -> list[dict[str, Any]]:
        """No frame: a user's message only tells which ``message_id`` its client gave the turn."""
        run_id = event.get("run_id")
        if run_id:
            message = event["data"].get("message") or {}
            if message.get("role") == Message.Role.USER:
                self.message_ids.setdefault(run_id, message.get("message_id") or message["id"])
        return []

    async def _step_frames(self, event: StepEvent) -> list[dict[str, Any]]:
        data = event["data"]
        step = {"type": "agent_step", "step_type": data["step_type"], "message": data["content"]}
        return [{**step, "message_id": await self._message_id(event.get("run_id")), **self._base(event)}]

    async def _question_frames(self, event: InputRequiredEvent) -> list[dict[str, Any]]:
        step = {"type": "agent_step", "step_type": ev.INPUT_REQUEST_STEP, "message": event["data"]["prompt"]}
        return [{**step, "message_id": await self._message_id(event.get("run_id")), **self._base(event)}]

    async def _status_frames(self, event: StatusEvent) -> list[dict[str, Any]]:
        data = event["data"]
        if data["status"] not in FRAMED_STATUSES:
            # A turn's queued and running statuses have no frame: no need to know its message id
            # (a lookup here would sit between the turn's commit and its first step).
            return []
        base = self._base(event)
        message_id = await self._message_id(event.get("run_id"))
        end = {"type": "message_end", "message_id": message_id, **base}
        if data["status"] == Run.Status.FAILED:
            error = {"type": "agent_error", "error": data.get("error") or "The agent failed.", **base}
            return [{**error, "message_id": message_id}, end]
        return [end]

    def _base(self, event: StreamEvent) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "seq": event["seq"]}

    async def _message_id(self, run_id: str | None) -> str | None:
        if run_id is None:
            return None
        if run_id not in self.message_ids:
            self.message_ids.update(await db(selectors.client_message_ids, run_ids=[run_id]))
        return self.message_ids.get(run_id)

    async def _error(
        self,
        error: str,
        message_id: Any = None,
        *,
        seq: int | None = None,
        code: str | None = None,
        **extra: Any,
    ) -> None:
        frame: dict[str, Any] = {"type": "agent_error", "error": error, "chat_id": self.chat_id}
        if code is not None:
            frame["code"] = code
        if isinstance(message_id, str):
            frame["message_id"] = message_id
        if seq is not None:
            frame["seq"] = seq
        for name, value in extra.items():  # (run_id…: never in place of the frame's own)
            frame.setdefault(name, value)
        await self.send(text_data=json.dumps(frame))


# Seed 001's translation of the stream's events: the frames of each event type (the types not
# here have none; ``past_end`` is said in an ``agent_error`` as the socket follows on).
FRAMES: dict[EventType, Callable[[ChatStepConsumer, Any], Awaitable[list[dict[str, Any]]]]] = {
    EventType.GAP: ChatStepConsumer._gap_frames,
    EventType.MESSAGE: ChatStepConsumer._message_frames,
    EventType.STEP: ChatStepConsumer._step_frames,
    EventType.INPUT_REQUIRED: ChatStepConsumer._question_frames,
    EventType.STATUS: ChatStepConsumer._status_frames,
}


# The frames of ``?live=1`` (the chat page's working bubble, Stop, and files on their answer):
# the event types and the fields of their data each frame carries.
LIVE_FRAMES: dict[str, tuple[str, ...]] = {
    EventType.STATUS: ("status",),
    EventType.PROGRESS: ("progress", "current_step"),
    EventType.LOG: ("level", "message"),
    EventType.ARTIFACT: ("id", "name", "media_type", "size", "download_url", "created_at"),
}
