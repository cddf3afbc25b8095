"""A remote A2A agent (protocol 1.0, or 0.3 through the SDK's compatibility layer) as a UAI agent.

Options: ``url`` (required: the agent card's URL, or the agent's base URL, whose card is then read
at ``/.well-known/agent-card.json``), ``binding`` (``JSONRPC`` or ``HTTP+JSON``: the one to use; by
default the first of the two the card offers), ``token_env`` (the environment variable holding a
bearer token), ``headers`` (a table of headers sent with every call) and ``headers_env`` (a table
of header → environment variable), ``json_input`` (``text``, the default, or ``data``: how a run's
JSON input is sent), ``step_type`` (the step a status message becomes when it does
not name one; default ``ActionStep``), and the limits ``timeout_seconds``,
``stream_idle_seconds``, ``cancel_seconds``, ``card_ttl_seconds``, ``poll_seconds`` (the
registry fills each an entry leaves out from its ``UAI_A2A_*`` setting: adapters read no settings).

Where credentials go: only to the card URL's origin (scheme, host, port). An interface the card
names at another origin fails the run, and so does a redirect of the card to another origin
(refused before anything is sent there), unless the entry says otherwise: ``interface_url`` (with
``binding``: the URL to call for that binding, whatever the card says) or ``allow_other_origins =
true`` (wherever the card or its redirects lead).

What maps to what:

- A UAI turn or run sends one message: its text (a run's JSON input as its JSON text, or as a
  data part with ``json_input = "data"``) and the files sent with it (raw parts). Its
  ``contextId`` is one per UAI chat, kept in the chat's state under ``"a2a"``, so the remote
  agent sees one conversation.
- A status update whose message has text is a step (the part's metadata
  ``{"uai": {"type": …}}`` names its type); ``TASK_STATE_INPUT_REQUIRED`` is ``ask()`` with the
  message as the question, and the answer goes back with the same ``taskId`` and ``contextId``.
- Text parts of artifacts stream as text deltas (``append`` / ``lastChunk`` honoured), and are
  the answer; file parts (bytes) and data parts become UAI artifacts, a file by URL an artifact
  holding the URL. A completed task without artifact text answers with its status message, and
  a reply that is a message (no task) with the message's text.
- ``TASK_STATE_FAILED`` / ``REJECTED`` / ``AUTH_REQUIRED`` fail the run with the remote's message;
  ``CANCELED`` ends it with what was produced.
- When the UAI run ends before the remote task did (cancelled, timed out, failed here), the
  remote task is cancelled (``CancelTask``, best effort, at most ``cancel_seconds``).

The ``a2a-sdk`` package is imported only when an agent uses this adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest, InputFile

logger = logging.getLogger(__name__)

STATE_KEY = "a2a"
WELL_KNOWN_CARD = "/.well-known/agent-card.json"
BINDINGS = ("JSONRPC", "HTTP+JSON")
DEFAULT_QUESTION = "The remote agent needs input."
RESUBSCRIBES = 3  # a stream that ends before its task did is followed again this many times
ALLOW_HINT = "options.interface_url (with binding) or options.allow_other_origins = true allows it"

# TaskState values of A2A 1.0 (a2a.types.a2a_pb2.TaskState), by name: the SDK is imported lazily.
SUBMITTED, WORKING, COMPLETED, FAILED, CANCELED, INPUT_REQUIRED, REJECTED, AUTH_REQUIRED = range(1, 9)
TERMINAL = {COMPLETED, FAILED, CANCELED, REJECTED}
INTERRUPTED = {INPUT_REQUIRED, AUTH_REQUIRED}


class RemoteAgentError(RuntimeError):
    """The remote A2A agent cannot be reached, refused the call, or its task failed."""


def _import() -> Any:
    try:
        import a2a.client  # noqa: F401 - the client, imported only when an agent uses this adapter
        import a2a.types.a2a_pb2 as types
    except ImportError as exc:  # (a main dependency: only a broken install lacks it)
        raise ImportError("the a2a adapter needs the 'a2a-sdk' package: pip install 'a2a-sdk'") from exc
    return types


def card_location(url: str) -> tuple[str, str]:
    """``(base, path)`` of the card for the configured URL: the URL itself when it names a JSON
    document or a ``/.well-known/`` path, else the well-known card under it."""
    parts = urlsplit(url)
    if parts.path.endswith(".json") or "/.well-known/" in parts.path:
        return url, "/"  # (the SDK's resolver reads base + "/" as the base itself)
    return url.rstrip("/"), WELL_KNOWN_CARD


def _seconds(options: dict[str, Any], name: str, *, zero: bool = False) -> float:
    value = options.get(name)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (value >= 0 if zero else value > 0)
    ):
        above = "0 or more" if zero else "above 0"
        raise ValueError(f"options.{name} must be a number of seconds {above}, not {value!r}")
    return float(value)


def _http_url(options: dict[str, Any], name: str, what: str) -> str:
    url = options.get(name)
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"options.{name} must be {what}, not {url!r}")
    return str(url)


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of a URL, the port made explicit: where credentials may go."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # (a port that is not a number: no origin anything shares)
        port = -1
    return scheme, (parts.hostname or "").lower(), port


class OriginRefused(RuntimeError):
    """A request would have carried the entry's credentials to another origin than the card's."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _string_table(options: dict[str, Any], name: str) -> dict[str, str]:
    table = options.get(name, {})
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
        raise ValueError(f"options.{name} must be a table of strings")
    return dict(table)


def _text(parts: Iterable[Any], separator: str = "\n") -> str:
    """The text parts' text: a message's as paragraphs; an artifact's (``separator=""``) as the
    chunks it was appended in (a stored artifact keeps each chunk as a part)."""
    return separator.join(part.text for part in parts if part.HasField("text"))


def _jsonable(value: Any) -> Any:
    # (protobuf ships no type stubs; the SDK's own helpers read its values the same way)
    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]

    return _whole(MessageToDict(value))


def _whole(value: Any) -> Any:
    """JSON as it was sent: protobuf keeps every number a double (``2`` came back ``2.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


@dataclass
class Translation:
    """The remote task as UAI sees it so far: fed each StreamResponse, it returns UAI events.

    It keeps what a repeated snapshot (a Task after a resubscribe or an answer) would otherwise
    report twice: messages by id, and each artifact's text so far.
    """

    step_type: str
    context_id: str | None = None
    task_id: str | None = None
    state: int = 0
    question: str = ""
    error: str = ""
    reply: str | None = None  # the text of a final message, or of a completed task's status
    texts: dict[str, str] = field(default_factory=dict)  # artifact id -> its text so far
    streamed: list[str] = field(default_factory=list)  # the answer's text deltas, in order
    seen: set[str] = field(default_factory=set)  # ids of messages already reported
    files: set[tuple[str, int]] = field(default_factory=set)  # (artifact id, part index) reported

    @property
    def open(self) -> bool:
        """A task exists and has not reached a terminal state."""
        return self.task_id is not None and self.state not in TERMINAL

    def feed(self, response: Any) -> list[events.AgentEvent]:
        """The UAI events of one StreamResponse (or a Task, polled)."""
        if response.DESCRIPTOR.name == "Task":
            return self._task(response)
        which = response.WhichOneof("payload")
        if which == "task":
            return self._task(response.task)
        if which == "message":
            return self._message(response.message)
        if which == "status_update":
            update = response.status_update
            self._ids(update.task_id, update.context_id)
            return self._status(update.status)
        if which == "artifact_update":
            update = response.artifact_update
            self._ids(update.task_id, update.context_id)
            return self._artifact(update.artifact, append=update.append)
        return []

    def _ids(self, task_id: str, context_id: str) -> None:
        self.task_id = task_id or self.task_id
        self.context_id = context_id or self.context_id

    def _task(self, task: Any) -> list[events.AgentEvent]:
        self._ids(task.id, task.context_id)
        out: list[events.AgentEvent] = []
        for artifact in task.artifacts:
            out += self._artifact(artifact, append=False)
        return out + self._status(task.status)

    def _message(self, message: Any) -> list[events.AgentEvent]:
        """A reply that is a message: the remote answered at once, without a task."""
        self.context_id = message.context_id or self.context_id
        self.state = COMPLETED
        self.reply = _text(message.parts)
        return self._files(message.message_id or "message", "reply", message.parts)

    def _status(self, status: Any) -> list[events.AgentEvent]:
        self.state = int(status.state)
        if not status.HasField("message"):
            if self.state == INPUT_REQUIRED:
                self.question = DEFAULT_QUESTION
            return []
        message = status.message
        text = _text(message.parts)
        if self.state == INPUT_REQUIRED:
            self.question = text or DEFAULT_QUESTION
            self.seen.add(message.message_id)
            return []
        if self.state in {FAILED, REJECTED, AUTH_REQUIRED}:
            self.error = text
            return []
        if self.state == COMPLETED:
            self.reply = text or None
        if message.message_id and message.message_id in self.seen:
            return []
        self.seen.add(message.message_id)
        if self.state == COMPLETED:
            return self._files(message.message_id, "reply", message.parts)
        out: list[events.AgentEvent] = []
        if text:
            out.append(events.Step(self._step_type(message.parts), text, data=self._step_data(message)))
        return out + self._files(message.message_id, "message", message.parts)

    def _step_type(self, parts: Iterable[Any]) -> str:
        for part in parts:
            uai = _jsonable(part.metadata).get("uai") if part.HasField("metadata") else None
            if isinstance(uai, dict) and isinstance(uai.get("type"), str) and uai["type"]:
                return str(uai["type"])
        return self.step_type

    def _step_data(self, message: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"a2a": {"task_id": self.task_id, "message_id": message.message_id}}
        values = [_jsonable(part.data) for part in message.parts if part.HasField("data")]
        if values:
            data["data"] = values
        return data

    def _artifact(self, artifact: Any, *, append: bool) -> list[events.AgentEvent]:
        out: list[events.AgentEvent] = []
        text = _text(artifact.parts, "")
        key = artifact.artifact_id or artifact.name or "artifact"
        if text or key in self.texts:
            before = self.texts.get(key)
            now = (before or "") + text if append else text
            # A snapshot repeats what was streamed: only what is new is a delta.
            delta = now[len(before) :] if before is not None and now.startswith(before) else now
            if before is None and self.streamed:
                delta = "\n\n" + delta if delta else delta  # another artifact's text
            self.texts[key] = now
            if delta:
                self.streamed.append(delta)
                out.append(events.TextDelta(delta))
        return out + self._files(key, artifact.name, artifact.parts)

    def _files(self, key: str, name: str, parts: Iterable[Any]) -> list[events.AgentEvent]:
        """Bytes, URLs and data of parts as UAI artifacts (each once, by its place)."""
        out: list[events.AgentEvent] = []
        for index, part in enumerate(parts):
            if part.HasField("text") or (key, index) in self.files:
                continue
            self.files.add((key, index))
            label = part.filename or name or key
            media_type = part.media_type or "application/octet-stream"
            if part.HasField("raw"):
                out.append(events.Artifact(name=label, content=part.raw, media_type=media_type))
            elif part.HasField("url"):
                value = {"url": part.url, "media_type": part.media_type, "filename": part.filename}
                out.append(events.Artifact(name=label, data=value, media_type="application/json"))
            elif part.HasField("data"):
                value = _jsonable(part.data)
                out.append(events.Artifact(name=label, data=value, media_type="application/json"))
        return out

    @property
    def answer(self) -> str:
        """The answer: the artifacts' text as streamed, else the remote's final message."""
        if self.streamed:
            return "".join(self.streamed)
        return self.reply or ""


class A2AAdapter:
    """Sends a UAI turn or run to a remote A2A agent and streams its task back as UAI events."""

    def __init__(self, target: Any, options: dict[str, Any]) -> None:
        _import()
        url = _http_url(options, "url", "the agent card's http(s) URL")
        interface_url = (
            _http_url(options, "interface_url", "an http(s) URL") if "interface_url" in options else None
        )
        if interface_url is not None and options.get("binding") is None:
            raise ValueError("options.interface_url needs options.binding: the binding served there")
        allow_other_origins = options.get("allow_other_origins", False)
        if not isinstance(allow_other_origins, bool):
            raise ValueError(
                f"options.allow_other_origins must be true or false, not {allow_other_origins!r}"
            )
        binding = options.get("binding")
        if binding is not None and binding not in BINDINGS:
            raise ValueError(f"options.binding must be one of {', '.join(BINDINGS)}, not {binding!r}")
        token_env = options.get("token_env")
        if token_env is not None and (not isinstance(token_env, str) or not token_env):
            raise ValueError("options.token_env must name an environment variable")
        step_type = options.get("step_type", events.ACTION_STEP)
        if not isinstance(step_type, str) or not step_type:
            raise ValueError("options.step_type must be a step type (a string)")
        self.url = url
        self.interface_url = interface_url
        self.allow_other_origins = allow_other_origins
        self.binding: str | None = binding
        self.token_env: str | None = token_env
        self.headers = _string_table(options, "headers")
        self.headers_env = _string_table(options, "headers_env")
        self.step_type = step_type
        self.json_input = options.get("json_input", "text")
        if self.json_input not in {"text", "data"}:
            raise ValueError(f"options.json_input must be 'text' or 'data', not {self.json_input!r}")
        self.timeout = _seconds(options, "timeout_seconds")
        self.stream_idle = _seconds(options, "stream_idle_seconds")
        self.cancel_seconds = _seconds(options, "cancel_seconds")
        self.card_ttl = _seconds(options, "card_ttl_seconds", zero=True)
        self.poll_seconds = _seconds(options, "poll_seconds")
        self._card: tuple[float, Any] | None = None  # (read at, AgentCard)

    def _auth_headers(self) -> dict[str, str]:
        """The headers of every call: the static ones, those from the environment, the token."""
        headers = dict(self.headers)
        for header, variable in self.headers_env.items():
            headers[header] = _environment(variable, header)
        if self.token_env:
            headers["Authorization"] = "Bearer " + _environment(self.token_env, "the bearer token")
        return headers

    async def _guard(self, request: Any) -> None:
        """httpx's hook before each request (a redirect's too): the credentials stay at the
        card's origin, or the interface URL the entry names, unless the entry allows any."""
        if self.allow_other_origins:
            return
        allowed = {origin(self.url)} | ({origin(self.interface_url)} if self.interface_url else set())
        if origin(str(request.url)) not in allowed:
            raise OriginRefused(str(request.url))

    async def _agent_card(self, http: Any) -> Any:
        from a2a.client import A2ACardResolver, AgentCardResolutionError

        if self._card is not None and time.monotonic() - self._card[0] < self.card_ttl:
            return self._card[1]
        base, path = card_location(self.url)
        try:
            card = await A2ACardResolver(http, base).get_agent_card(
                relative_card_path=path, http_kwargs={"timeout": self.timeout, "follow_redirects": True}
            )
        except AgentCardResolutionError as exc:
            raise RemoteAgentError(f"cannot read the agent card at {self.url}: {exc.message}") from exc
        except OriginRefused as exc:
            raise RemoteAgentError(
                f"the agent card at {self.url} redirects to {exc.url}, another origin: not followed with"
                " the entry's credentials (options.url can name the card's own URL, or"
                " options.allow_other_origins = true allows it)"
            ) from exc
        self._card = (time.monotonic(), card)
        return card

    def _interfaces(self, card: Any) -> Any:
        """The card as the client may use it: only the chosen binding's interfaces, at the card's
        origin (or at ``interface_url``); another origin fails, before anything is sent there."""
        types = _import()
        offered = list(card.supported_interfaces)
        binding = self.binding or next(
            (i.protocol_binding for i in offered if i.protocol_binding in BINDINGS), None
        )
        chosen = [i for i in offered if i.protocol_binding == binding]
        if not chosen:
            names = ", ".join(i.protocol_binding for i in offered) or "none"
            wanted = self.binding or " or ".join(BINDINGS)
            raise RemoteAgentError(
                f"the agent card at {self.url} offers no {wanted} interface (it offers: {names})"
            )
        if self.interface_url:
            chosen = [
                types.AgentInterface(
                    url=self.interface_url,
                    protocol_binding=binding,
                    protocol_version=i.protocol_version,
                    tenant=i.tenant,
                )
                for i in chosen
            ]
        elif not self.allow_other_origins:
            elsewhere = sorted({i.url for i in chosen if origin(i.url) != origin(self.url)})
            if elsewhere:
                raise RemoteAgentError(
                    f"the agent card at {self.url} names its {binding} interface at {', '.join(elsewhere)},"
                    f" another origin: the entry's credentials go only to the card's origin ({ALLOW_HINT})"
                )
        usable = types.AgentCard()
        usable.CopyFrom(card)
        del usable.supported_interfaces[:]
        usable.supported_interfaces.extend(chosen)
        return usable

    def _client(self, http: Any, card: Any) -> Any:
        from a2a.client import ClientConfig, ClientFactory

        config = ClientConfig(
            httpx_client=http,
            supported_protocol_bindings=[self.binding] if self.binding else list(BINDINGS),
            use_client_preference=self.binding is not None,
            polling=not card.capabilities.streaming,  # (returnImmediately, then GetTask)
        )
        try:
            return ClientFactory(config).create(self._interfaces(card))
        except ValueError as exc:
            offered = ", ".join(i.protocol_binding for i in card.supported_interfaces) or "none"
            wanted = self.binding or " or ".join(BINDINGS)
            raise RemoteAgentError(
                f"the agent card at {self.url} offers no {wanted} interface (it offers: {offered})"
            ) from exc

    async def stream(
        self, request: AgentRequest, context: AgentContext
    ) -> AsyncGenerator[events.AgentEvent, None]:
        """Send the turn, follow the remote task to its end, answering its questions."""
        import httpx
        from a2a.utils.errors import A2AError

        state = dict(request.state.get(STATE_KEY) or {})
        saved = state.get("context_id") if context.chat_id else None
        tr = Translation(step_type=self.step_type, context_id=saved if isinstance(saved, str) else None)
        if tr.context_id is None:
            tr.context_id = uuid.uuid4().hex  # a new conversation of the remote agent
        timeout = httpx.Timeout(self.timeout, read=self.stream_idle)
        http = httpx.AsyncClient(
            timeout=timeout, headers=self._auth_headers(), event_hooks={"request": [self._guard]}
        )
        client: Any = None
        try:
            try:
                card = await self._agent_card(http)
                client = self._client(http, card)
                message = await self._message(request.text, request.input, request.files, tr)
                while True:
                    async for event in self._follow(client, card, message, tr):
                        yield event
                    if tr.context_id and context.chat_id and tr.context_id != saved:
                        saved = tr.context_id
                        state.update(context_id=tr.context_id, task_id=tr.task_id)
                        yield events.StateUpdate({**request.state, STATE_KEY: state})
                    if tr.state != INPUT_REQUIRED:
                        break
                    answer = await context.ask(tr.question)
                    message = await self._message(str(answer), None, list(answer.files), tr)
            except OriginRefused as exc:  # (the card's interfaces were checked: a call led elsewhere)
                raise RemoteAgentError(
                    f"refused to send the entry's credentials to {exc.url}, another origin than the agent"
                    f" card's ({ALLOW_HINT})"
                ) from exc
            except (A2AError, httpx.HTTPError) as exc:
                raise RemoteAgentError(f"the remote agent at {self.url}: {_describe(exc)}") from exc
            if tr.state in {FAILED, REJECTED}:
                word = "failed" if tr.state == FAILED else "was rejected"
                raise RemoteAgentError(f"the remote agent's task {word}: {tr.error or 'no reason given'}")
            if tr.state == AUTH_REQUIRED:
                raise RemoteAgentError(
                    f"the remote agent asks for authentication, which UAI cannot give: {tr.error or '-'}"
                )
            if tr.state == CANCELED:
                yield events.Log("The remote agent cancelled its task.", "warning")
            elif tr.state != COMPLETED:
                raise RemoteAgentError(
                    f"the remote agent's stream ended with its task {_state_name(tr.state)}"
                )
            yield events.FinalAnswer(content=tr.answer)
        finally:
            if client is not None and tr.open:
                await self._cancel_remote(client, tr.task_id)
            await http.aclose()

    async def _message(self, text: str, run_input: Any, files: list[InputFile], tr: Translation) -> Any:
        """The user's message: text, a JSON input as data, files as raw parts; in the task
        (when answering it) and the conversation."""
        types = _import()
        from a2a.helpers.proto_helpers import new_data_part

        if isinstance(run_input, dict | list) and self.json_input == "data":
            parts = [new_data_part(run_input)]
        else:
            parts = [types.Part(text=text)]  # (a JSON input as its JSON text, as request.text has it)
        for file in files:
            content = await asyncio.to_thread(file.read)
            parts.append(types.Part(raw=content, filename=file.name, media_type=file.media_type))
        message = types.Message(
            message_id=uuid.uuid4().hex, role=types.ROLE_USER, parts=parts, context_id=tr.context_id or ""
        )
        if tr.open:  # answering the task's question: the same task goes on
            message.task_id = tr.task_id or ""
        return types.SendMessageRequest(message=message)

    async def _follow(
        self, client: Any, card: Any, request: Any, tr: Translation
    ) -> AsyncGenerator[events.AgentEvent, None]:
        """Events of the message's stream, then of the task until it ends or is interrupted.

        A stream that ends or breaks (a network error, a silence past ``stream_idle_seconds``)
        while its task goes on is subscribed to again, ``RESUBSCRIBES`` times without news; a
        remote that does not stream is polled.
        """
        from a2a.client import A2AClientError, ClientCallContext

        types = _import()
        source = client.send_message(request)
        again = RESUBSCRIBES
        while True:
            try:
                async with contextlib.aclosing(source) as responses:
                    async for response in responses:
                        if response.WhichOneof("payload") != "task":  # (a snapshot is no news)
                            again = RESUBSCRIBES
                        for event in tr.feed(response):
                            yield event
            except A2AClientError as exc:
                if not tr.open or tr.state in INTERRUPTED or not again:
                    raise
                logger.info("the stream of remote task %s broke (%s); following it again", tr.task_id, exc)
            if not tr.open or tr.state in INTERRUPTED or not again:
                return  # (the caller reports a task still going as the failure it is)
            if not card.capabilities.streaming:
                break
            again -= 1
            source = client.subscribe(types.SubscribeToTaskRequest(id=tr.task_id))
        while tr.open and tr.state not in INTERRUPTED:
            await asyncio.sleep(self.poll_seconds)
            call = ClientCallContext(timeout=self.timeout)
            task = await client.get_task(types.GetTaskRequest(id=tr.task_id), context=call)
            for event in tr.feed(task):
                yield event

    async def _cancel_remote(self, client: Any, task_id: str | None) -> None:
        """Best effort, bounded: the UAI run ended before the remote task did."""
        from a2a.client import ClientCallContext

        types = _import()
        try:
            async with asyncio.timeout(self.cancel_seconds):
                await client.cancel_task(
                    types.CancelTaskRequest(id=task_id),
                    context=ClientCallContext(timeout=self.cancel_seconds),
                )
        except Exception as exc:
            logger.warning("could not cancel the remote task %s at %s: %s", task_id, self.url, _describe(exc))


def _environment(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise RemoteAgentError(f"the environment variable {variable} ({what}) is not set")
    return value


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}"


def _state_name(state: int) -> str:
    names = {SUBMITTED: "submitted", WORKING: "working", INPUT_REQUIRED: "input-required"}
    return names.get(state, "in an unknown state")
