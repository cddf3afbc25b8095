"""The adapter protocol and the request and context types an agent receives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents import events


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """A previous entry of the chat, oldest first."""

    role: str
    content: str
    step_type: str | None = None


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file the user sent with this turn or run; ``read()`` returns its bytes (blocking)."""

    name: str
    media_type: str
    size: int
    read: Callable[[], bytes]
    artifact_id: str | None = None


@dataclass(slots=True)
class AgentRequest:
    """What the agent is asked: the input (text or JSON), the chat so far, state and files."""

    input: Any
    text: str
    history: list[HistoryItem] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    files: list[InputFile] = field(default_factory=list)
    mode: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


class InputNotSupported(RuntimeError):
    """The agent asked for input where nobody can answer (a sessionless call)."""


class AgentContext:
    """What the running agent can ask of UAI: input mid-run, and whether it was cancelled."""

    def __init__(
        self,
        *,
        run_id: str | None,
        chat_id: str | None,
        ask: Callable[[str], Awaitable[str]] | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.run_id = run_id
        self.chat_id = chat_id
        self._ask = ask
        self._loop = loop
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        """True once the run was cancelled; sync agents check it between steps."""
        return self._cancelled

    def cancel(self) -> None:
        """Mark the run cancelled (called by the executor)."""
        self._cancelled = True

    async def ask(self, question: str) -> str:
        """Ask the user a question and wait for the answer (the run is ``input_required`` meanwhile)."""
        if self._ask is None:
            raise InputNotSupported("This agent asked for input, which a sessionless call cannot give.")
        return await self._ask(question)

    def ask_sync(self, question: str) -> str:
        """``ask`` for agents running in a worker thread."""
        return asyncio.run_coroutine_threadsafe(self.ask(question), self._loop).result()


class AgentAdapter(Protocol):
    """Runs one agent for one request and yields its events; it never touches the ORM."""

    def stream(self, request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
        """Yield the agent's events until it is done; raise on failure."""
        ...
