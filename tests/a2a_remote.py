"""A remote A2A agent for the a2a adapter's tests: the a2a-sdk's own server (an AgentExecutor, its
DefaultRequestHandler and InMemoryTaskStore, its Starlette routes for JSON-RPC and HTTP+JSON),
served by uvicorn in a thread of the test process on a free port.

What the executor does depends on the user's first word:

- ``steps``: a PlanningStep (named in the part's metadata) and a plain status message, the answer
  in three appended chunks of one artifact, a data artifact; completed.
- ``ask``: asks "Your name?" (input-required); the answer's text continues the same task.
- ``draft``: streams "Dear" and "," of an artifact, asks "To whom?", and appends the answer to it.
- ``slow``: one status message, then works until cancelled (``Remote.cancelled`` records it).
- ``pause``: one status message and "before the pause" of an artifact, silence for
  ``PAUSE_SECONDS``, then ", after it" appended.
- ``fail``: fails with "boom"; ``reject``: rejects it ("not for me"); ``login``: asks for
  authentication ("sign in first"); ``quit``: says "partial", then cancels its own task.
- ``files``: answers with the names and sizes of the files the message carried.

Every call is recorded (``Remote.calls``: task id, context id, text), so a test sees what reached it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from a2a.helpers.proto_helpers import get_data_parts, new_data_part, new_task_from_user_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Part
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SLOW_SECONDS = 60
PAUSE_SECONDS = 1.5


@dataclass
class Remote:
    """What the remote agent saw: each call, the tasks it started slow, the tasks cancelled."""

    url: str = ""
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (task id, context id, text)
    slow: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    files: list[tuple[str, str, int]] = field(default_factory=list)  # (filename, media type, size)
    headers: list[dict[str, str]] = field(default_factory=list)  # of each call but the card's
    paths: list[str] = field(default_factory=list)  # (method and path) of each call but the card's
    methods: list[str] = field(default_factory=list)  # of each JSON-RPC call
    data: list[Any] = field(default_factory=list)  # the data parts of the messages
    cards: list[dict[str, str]] = field(default_factory=list)  # headers of each read of its card

    @property
    def card_url(self) -> str:
        return self.url + "/.well-known/agent-card.json"


class ScriptedExecutor(AgentExecutor):
    """The remote agent's behaviour (see the module's docstring)."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """One call: a new task, or the answer to the task's question."""
        assert context.task_id is not None and context.context_id is not None and context.message is not None
        text = context.get_user_input()
        self.remote.calls.append((context.task_id, context.context_id, text))
        self.remote.data += get_data_parts(context.message.parts)
        task = context.current_task
        if task is None:
            await event_queue.enqueue_event(new_task_from_user_message(context.message))
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        if task is not None and task.artifacts:  # the answer to "To whom?": the draft goes on
            draft = task.artifacts[0].artifact_id
            await updater.add_artifact(
                [new_text_part(f" {text}")], artifact_id=draft, append=True, last_chunk=True
            )
            await updater.complete()
            return
        if task is not None:  # the answer to "Your name?"
            await updater.add_artifact([new_text_part(f"Hi {text}")], name="answer", last_chunk=True)
            await updater.complete()
            return
        word = text.split()[0] if text.split() else ""
        await updater.start_work()
        if word == "steps":
            plan = Part(text="Planning the work", metadata={"uai": {"type": "PlanningStep"}})
            await updater.update_status(2, updater.new_agent_message([plan]))  # TASK_STATE_WORKING
            await updater.start_work(updater.new_agent_message([new_text_part("Looking things up")]))
            for n, chunk in enumerate(["Hello", ", ", "world"]):
                await updater.add_artifact(
                    [new_text_part(chunk)],
                    artifact_id="answer",
                    name="answer",
                    append=n > 0,
                    last_chunk=n == 2,
                )
            await updater.add_artifact([new_data_part({"rows": 2})], name="table.json")
            await updater.complete()
        elif word == "draft":
            for n, chunk in enumerate(["Dear", ","]):
                await updater.add_artifact(
                    [new_text_part(chunk)], artifact_id="letter", name="letter", append=n > 0
                )
            await updater.requires_input(updater.new_agent_message([new_text_part("To whom?")]))
        elif word == "ask":
            await updater.requires_input(updater.new_agent_message([new_text_part("Your name?")]))
        elif word == "slow":
            self.remote.slow.append(context.task_id)
            await updater.start_work(updater.new_agent_message([new_text_part("Working slowly")]))
            await asyncio.sleep(SLOW_SECONDS)  # cancelled by CancelTask
            await updater.complete()
        elif word == "pause":
            await updater.start_work(updater.new_agent_message([new_text_part("Pausing")]))
            await updater.add_artifact(
                [new_text_part("before the pause")], artifact_id="answer", name="answer"
            )
            await asyncio.sleep(PAUSE_SECONDS)
            await updater.add_artifact(
                [new_text_part(", after it")],
                artifact_id="answer",
                name="answer",
                append=True,
                last_chunk=True,
            )
            await updater.complete()
        elif word == "fail":
            await updater.failed(updater.new_agent_message([new_text_part("boom")]))
        elif word == "reject":
            await updater.reject(updater.new_agent_message([new_text_part("not for me")]))
        elif word == "login":
            await updater.requires_auth(updater.new_agent_message([new_text_part("sign in first")]))
        elif word == "quit":
            await updater.add_artifact([new_text_part("partial")], name="answer")
            await updater.cancel()
        elif word == "files":
            parts = [p for p in context.message.parts if p.HasField("raw")]
            self.remote.files += [(p.filename, p.media_type, len(p.raw)) for p in parts]
            names = ", ".join(f"{p.filename} ({len(p.raw)} bytes)" for p in parts)
            await updater.add_artifact([new_text_part(f"got {names}")], name="answer", last_chunk=True)
            await updater.complete()
        else:
            await updater.add_artifact([new_text_part(text)], name="answer", last_chunk=True)
            await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """CancelTask reached the agent: record it, and end the task cancelled."""
        assert context.task_id is not None and context.context_id is not None
        self.remote.cancelled.append(context.task_id)
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def build_app(
    remote: Remote,
    port: int,
    *,
    streaming: bool = True,
    version: str = "1.0",
    interfaces_at: str | None = None,
    card_redirect: str | None = None,
) -> ASGIApp:
    """The card (both bindings: JSON-RPC at /jsonrpc, HTTP+JSON at /rest, of protocol ``version``:
    ``0.3`` serves A2A 0.3 beside 1.0; under ``interfaces_at`` instead of its own URL when given)
    and the routes; ``card_redirect``: the card's URL answers a 302 to there (unless it has a
    query string, so that the card can redirect to itself with one)."""
    base = interfaces_at or f"http://127.0.0.1:{port}"
    card = AgentCard(
        name="scripted",
        description="A scripted remote agent.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=f"{base}/jsonrpc", protocol_binding="JSONRPC", protocol_version=version),
            AgentInterface(url=f"{base}/rest", protocol_binding="HTTP+JSON", protocol_version=version),
        ],
        capabilities=AgentCapabilities(streaming=streaming),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="script", name="script", description="Follows its script.", tags=["test"])],
    )
    handler = DefaultRequestHandler(
        agent_executor=ScriptedExecutor(remote), task_store=InMemoryTaskStore(), agent_card=card
    )
    app = Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, "/jsonrpc", enable_v0_3_compat=version == "0.3"),
            *create_rest_routes(handler, path_prefix="/rest", enable_v0_3_compat=version == "0.3"),
        ]
    )

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/.well-known/"):
            remote.cards.append({k.decode(): v.decode() for k, v in scope["headers"]})
            if card_redirect and not scope["query_string"]:  # (a redirect to itself ends)
                headers = [(b"location", card_redirect.encode()), (b"content-length", b"0")]
                await send({"type": "http.response.start", "status": 302, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        if scope["type"] == "http" and not scope["path"].startswith("/.well-known/"):
            remote.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
            remote.paths.append(f"{scope['method']} {scope['path']}")
        if scope["type"] == "http" and scope["path"] == "/jsonrpc":
            message = await receive()  # (the SDK's clients send a call's body in one piece)
            remote.methods.append(json.loads(message.get("body") or b"{}").get("method", ""))

            pending = [message]

            async def replay() -> Message:  # the body once, then the connection's own messages
                return pending.pop() if pending else await receive()

            await app(scope, replay, send)
            return
        await app(scope, receive, send)

    return recording


@contextmanager
def serve(
    *,
    streaming: bool = True,
    version: str = "1.0",
    interfaces_at: str | None = None,
    card_redirect: str | None = None,
) -> Iterator[Remote]:
    """The remote agent, listening until the block ends (``streaming``, ``version``,
    ``interfaces_at``: what its card says; ``card_redirect``: where its card's URL redirects)."""
    port = _free_port()
    remote = Remote(url=f"http://127.0.0.1:{port}")
    config = uvicorn.Config(
        build_app(
            remote,
            port,
            streaming=streaming,
            version=version,
            interfaces_at=interfaces_at,
            card_redirect=card_redirect,
        ),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="a2a-remote", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the remote A2A agent did not start")
        time.sleep(0.02)
    try:
        yield remote
    finally:
        server.should_exit = True
        thread.join(10)
