"""A2A 1.0: every registered agent is an A2A agent — its card, and the operations both bindings share.

``/a2a/{agent}`` serves one agent: the JSON-RPC binding (``a2a_jsonrpc``: ``POST /a2a/{agent}``,
1.0 method names and 0.3's) and the HTTP+JSON one (``a2a_rest``: ``POST /a2a/{agent}/message:send``
…). Its card, public, is at ``/a2a/{agent}/.well-known/agent-card.json`` (the default agent's also
at ``/.well-known/agent-card.json``); everything else needs the user (a UAI token or JWT as
``Authorization: Bearer``; 401 without).

A task is a UAI turn run, its ``contextId`` the run's chat (``a2a_events`` says how a run reads
as a task). A message without ``contextId`` starts a new chat; with one, the user's chat of that
id (created on first use); with a ``taskId`` of a run waiting for input, it answers it and the
same run goes on. Another user's task or context is not found, never told apart from none.

The operations here take the SDK's request messages (parsed by the binding) and answer ProtoJSON
dicts; they raise the SDK's ``A2AError``\\ s, or UAI's errors, which ``problem`` turns into one
(the bindings render it with their codes).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from a2a.compat.v0_3 import conversions
from a2a.types import a2a_pb2
from a2a.utils import errors as a2a_errors
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import IntegrityError
from google.protobuf import json_format  # type: ignore[import-untyped]  # (protobuf ships no stubs)

from uai.agents import selectors as agent_selectors
from uai.agents.models import Agent
from uai.chats import selectors as chat_selectors
from uai.chats import services as chat_services
from uai.chats.models import Chat, new_chat_id
from uai.dialects import a2a_events, ui_events
from uai.runs import selectors as run_selectors
from uai.runs import services as run_services
from uai.runs.models import Run
from uai.runs.stream_events import StreamEvent
from uai.runs.waiting import wait_for_run
from uai.webhooks import selectors as webhook_selectors
from uai.webhooks import services as webhook_services
from uai_project import errors
from uai_project.api import base_url
from uai_project.errors import ErrorCode

PROTOCOL_VERSION = "1.0"
VERSION_HEADER = "A2A-Version"
VERSIONS = ("1.0", "0.3")  # served: 1.0, and 0.3's methods on JSON-RPC
CHAT_NAME_CHARS = 80  # a new context's chat is named after the start of its first message
TEXT_MODES = ("text/plain", "text/*", "*/*", "application/json")
DEFAULT_PAGE_SIZE = 50

# UAI's errors as A2A's (an error an operation does not name itself).
A2A_OF_CODE: dict[ErrorCode, type[a2a_errors.A2AError]] = errors.transport_table(
    "A2A",
    {
        ErrorCode.INVALID: a2a_errors.InvalidParamsError,
        ErrorCode.NOT_AUTHENTICATED: a2a_errors.InvalidRequestError,
        ErrorCode.FORBIDDEN: a2a_errors.InvalidRequestError,
        ErrorCode.NOT_FOUND: a2a_errors.TaskNotFoundError,
        ErrorCode.METHOD_NOT_ALLOWED: a2a_errors.MethodNotFoundError,
        ErrorCode.CONFLICT: a2a_errors.UnsupportedOperationError,
        ErrorCode.TOO_LARGE: a2a_errors.InvalidParamsError,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE: a2a_errors.ContentTypeNotSupportedError,
        ErrorCode.RATE_LIMITED: a2a_errors.InternalError,
        ErrorCode.TIMEOUT: a2a_errors.InternalError,
        ErrorCode.UNAVAILABLE: a2a_errors.InternalError,
        ErrorCode.AGENT_FAILED: a2a_errors.InternalError,
        ErrorCode.SERVER_ERROR: a2a_errors.InternalError,
        ErrorCode.TOO_SLOW: a2a_errors.InternalError,
        ErrorCode.GONE: a2a_errors.TaskNotFoundError,
    },
)


@dataclass(frozen=True)
class Problem:
    """An error as A2A tells it: its kind (the SDK's class), message, and the HTTP status a
    UAI error keeps on the REST binding (a 401, a 413, a 503) when it is not A2A's own."""

    kind: type[a2a_errors.A2AError]
    message: str
    http_status: int | None = None


def problem(exc: Exception) -> Problem | None:
    """What an exception says to an A2A client (None: not one UAI reports: a bug)."""
    if isinstance(exc, a2a_errors.A2AError):
        return Problem(type(exc), exc.message)
    if isinstance(exc, errors.UAIError):
        kind = A2A_OF_CODE[exc.code]
        own = exc.code in (ErrorCode.INVALID, ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.GONE)
        return Problem(kind, exc.detail, None if own else errors.http_status(exc))
    return None


def check_version(request: Any) -> None:
    """VersionNotSupported when the ``A2A-Version`` header names a version not served here."""
    version = request.headers.get(VERSION_HEADER, "").strip()
    if version and ".".join(version.split(".")[:2]) not in VERSIONS:
        raise a2a_errors.VersionNotSupportedError(f"A2A version {version} is not served here.")


def task_not_found() -> a2a_errors.TaskNotFoundError:
    return a2a_errors.TaskNotFoundError("Task not found.")


def parse(message: Any, data: Any) -> Any:
    """A request's JSON as the SDK's message ``message`` (unknown fields ignored); InvalidParams
    when it does not fit."""
    if not isinstance(data, dict):
        raise a2a_errors.InvalidParamsError("The parameters must be a JSON object.")
    try:
        parsed = json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise a2a_errors.InvalidParamsError(f"Invalid parameters: {exc}") from None
    _known_enums(data, parsed)
    return parsed


def _known_enums(data: Any, message: Any) -> None:
    """InvalidParams for an enum value the parser dropped: ignoring unknown fields ignores
    unknown enum names too (a ``status`` filter of ``"TASK_STATE_NOPE"`` listed everything)."""
    if not isinstance(data, dict):
        return
    for field in message.DESCRIPTOR.fields:
        raw = data.get(field.json_name, data.get(field.name))
        if raw is None:
            continue
        if field.enum_type is not None and not field.is_repeated:
            if getattr(message, field.name) == 0 and raw not in (0, field.enum_type.values[0].name):
                raise a2a_errors.InvalidParamsError(
                    f"Invalid parameters: {field.json_name} {raw!r} is not one."
                )
        elif (
            field.message_type is not None
            and not field.is_repeated
            and not field.message_type.GetOptions().map_entry
            and message.HasField(field.name)
        ):
            _known_enums(raw, getattr(message, field.name))


def to_json(message: Any) -> dict[str, Any]:
    """An SDK message as ProtoJSON."""
    result: dict[str, Any] = json_format.MessageToDict(message)
    return result


# --- the card ---------------------------------------------------------------------------------------


def agent_of(name: str) -> Agent:
    """The enabled agent the URL names; not found otherwise."""
    try:
        return agent_selectors.agent_get(name=name)
    except errors.InvalidInput:
        raise errors.NotFound(f"Unknown agent {name!r}.") from None


def public_base(request: Any) -> str:
    """Where clients reach UAI: UAI_PUBLIC_URL when set (behind a proxy), else the request's
    scheme and host — the base of the card's URLs and of the files' download URLs."""
    return str(settings.UAI_PUBLIC_URL or base_url(request))


def default_agent() -> Agent:
    return agent_of(settings.UAI_DEFAULT_AGENT)


def _skills(agent: Agent) -> list[dict[str, Any]]:
    """The agent's skills: ``options.skills`` of its registry entry, or one skill that is the agent."""
    listed = agent.options.get("skills") if isinstance(agent.options, dict) else None
    skills = []
    if isinstance(listed, list):
        for number, skill in enumerate(listed, 1):
            if isinstance(skill, dict):
                skills.append(
                    {
                        "id": str(skill.get("id") or f"{agent.name}-{number}"),
                        "name": str(skill.get("name") or skill.get("id") or agent.name),
                        "description": str(skill.get("description") or agent.description or agent.name),
                        "tags": [str(t) for t in skill.get("tags") or [] if isinstance(t, str)],
                        "examples": [str(e) for e in skill.get("examples") or [] if isinstance(e, str)],
                    }
                )
    if not skills:
        tags = [agent.adapter or "python"] + (["files"] if agent.accepts_files else [])
        skills.append(
            {
                "id": agent.name,
                "name": agent.name,
                "description": agent.description or agent.name,
                "tags": tags,
            }
        )
    return skills


def card(agent: Agent, base: str, *, extended: bool = False) -> dict[str, Any]:
    """The agent's A2A card (``AgentCard``): its interfaces on both bindings, at ``base``."""
    url = f"{base}/a2a/{agent.name}"
    result: dict[str, Any] = {
        "name": agent.name,
        "description": agent.description or f"The UAI agent {agent.name!r}.",
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": PROTOCOL_VERSION},
            {"url": url, "protocolBinding": "HTTP+JSON", "protocolVersion": PROTOCOL_VERSION},
            # 0.3's methods on the same endpoint (``a2a_jsonrpc``): what a 0.3 client looks for
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        ],
        "provider": {"organization": "UAI", "url": base},
        "version": "1.0.0",
        "documentationUrl": f"{base}/api/docs/",
        "capabilities": {"streaming": True, "pushNotifications": True, "extendedAgentCard": True},
        "securitySchemes": {
            "bearer": {
                "httpAuthSecurityScheme": {
                    "scheme": "Bearer",
                    "description": "A UAI API token or a JWT (POST /api/auth/token).",
                }
            }
        },
        "securityRequirements": [{"schemes": {"bearer": {"list": []}}}],
        "defaultInputModes": ["text/plain", "application/json"]
        + (["application/octet-stream"] if agent.accepts_files else []),
        "defaultOutputModes": ["text/plain", "application/octet-stream"],
        "skills": _skills(agent),
    }
    if extended:  # what only a signed-in user learns: how the agent runs here
        result["description"] += (
            f" It streams: {'yes' if agent.streams else 'no'}; it may ask for input:"
            f" {'yes' if agent.asks_input else 'no'}."
        )
    return result


# --- sending ---------------------------------------------------------------------------------------


@dataclass
class Sent:
    """A message sent: the run it started or answered, and the number of the user's message
    (a stream of it tells what comes after)."""

    turn: Run  # the run
    after: int
    history_length: int | None
    blocking: bool


def _uploads(part: a2a_pb2.Part, number: int) -> UploadedFile:
    name = part.filename or f"file-{number}"
    return SimpleUploadedFile(name, part.raw, content_type=part.media_type or "application/octet-stream")


def whole_numbers(value: Any) -> Any:
    """``value`` with its whole floats as ints: a data part is a protobuf ``Struct``, whose
    numbers are all doubles, and {"n": 2} read back as {"n": 2.0}."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


def _content(message: a2a_pb2.Message, agent: Agent) -> tuple[str, list[UploadedFile]]:
    """A user's message as UAI's text and files."""
    if message.role not in (a2a_pb2.ROLE_USER, a2a_pb2.ROLE_UNSPECIFIED):
        raise a2a_errors.InvalidParamsError("The message's role must be ROLE_USER.")
    texts: list[str] = []
    files: list[UploadedFile] = []
    for number, part in enumerate(message.parts, 1):
        kind = part.WhichOneof("content")
        if kind == "text":
            texts.append(part.text)
        elif kind == "data":
            texts.append(json.dumps(whole_numbers(json_format.MessageToDict(part.data))))
        elif kind == "raw":
            if not agent.accepts_files:
                raise a2a_errors.ContentTypeNotSupportedError(f"Agent {agent.name!r} does not take files.")
            files.append(_uploads(part, number))
        elif kind == "url":
            raise a2a_errors.ContentTypeNotSupportedError(
                "A file part by URL is not fetched: send its bytes (raw)."
            )
    text = "\n".join(texts)
    if not text and not files:
        raise a2a_errors.InvalidParamsError("The message has no text, data or file part.")
    return text, files


def _accepts_text(modes: Any) -> None:
    if modes and not any(mode in TEXT_MODES for mode in modes):
        raise a2a_errors.ContentTypeNotSupportedError(
            "The agent answers text/plain (and files): none of the acceptedOutputModes."
        )


def owned_run(user: Any, agent: Agent, task_id: str) -> Run:
    """The user's task ``task_id`` with this agent; TaskNotFound otherwise (whoever's it is)."""
    try:
        run_id = uuid.UUID(task_id)
    except (ValueError, TypeError):
        raise task_not_found() from None
    run = run_selectors.run_find(run_id=run_id)
    if run is None or run.owner_id != user.pk or run.agent_id != agent.name or run.chat_id is None:
        raise task_not_found()
    return run


def _context(user: Any, agent: Agent, context_id: str) -> Chat | None:
    chat = chat_selectors.chat_find(chat_id=context_id)
    if chat is None:
        return None
    if chat.owner_id != user.pk:
        raise a2a_errors.TaskNotFoundError(f"Context {context_id!r} not found.")
    if chat.agent_id != agent.name:
        raise a2a_errors.InvalidParamsError(f"Context {context_id!r} is a chat with agent {chat.agent_id!r}.")
    return chat


def send(user: Any, agent: Agent, request: a2a_pb2.SendMessageRequest) -> Sent:
    """Start a turn, or answer a task's question: what ``SendMessage`` and its stream do first."""
    if not request.HasField("message"):
        raise a2a_errors.InvalidParamsError("'message' is required.")
    message = request.message
    config = request.configuration
    _accepts_text(config.accepted_output_modes)
    if config.HasField("history_length") and config.history_length < 0:
        raise a2a_errors.InvalidParamsError("'historyLength' must not be negative.")
    history = config.history_length if config.HasField("history_length") else None
    text, files = _content(message, agent)
    push = config.task_push_notification_config if config.HasField("task_push_notification_config") else None
    if push is not None:  # every check refused before a turn starts: none after it is committed
        _push_check(push)
    client_id = message.message_id[:200]
    if message.task_id:
        run = owned_run(user, agent, message.task_id)
        if message.context_id and message.context_id != run.chat_id:
            raise a2a_errors.InvalidParamsError("The task is not of that context.")
        if run.is_terminal:
            raise a2a_errors.UnsupportedOperationError(
                f"Task {run.id} is {run.status}: it takes no more messages."
            )
        if run.status != Run.Status.INPUT_REQUIRED:
            raise a2a_errors.UnsupportedOperationError(f"Task {run.id} is not waiting for input.")
        chat = chat_selectors.chat_get(user=user, chat_id=str(run.chat_id))
        run, sent = chat_services.chat_send(
            chat=chat, text=text, files=files, answering=run, client_message_id=client_id
        )
    else:
        chat_found = _context(user, agent, message.context_id) if message.context_id else None
        if chat_found is None:
            try:
                _, run, sent = chat_services.chat_start(
                    owner_id=user.pk,
                    agent=agent,
                    chat_id=chat_services.validate_chat_id(message.context_id)
                    if message.context_id
                    else new_chat_id(),
                    name=" ".join(text.split())[:CHAT_NAME_CHARS],
                    text=text,
                    files=files,
                    client_message_id=client_id,
                )
            except IntegrityError:
                raise a2a_errors.UnsupportedOperationError(
                    f"Context {message.context_id!r} was just started by another request."
                ) from None
        else:
            run, sent = chat_services.chat_send(
                chat=chat_found, text=text, files=files, client_message_id=client_id
            )
    if push is not None:
        push_create(user, agent, run, push)
    return Sent(turn=run, after=int(sent.seq), history_length=history, blocking=not config.return_immediately)


def send_and_wait(user: Any, agent: Agent, request: a2a_pb2.SendMessageRequest, base: str) -> dict[str, Any]:
    """``SendMessage``: the task once it ends or asks (or at once with ``returnImmediately``)."""
    sent = send(user, agent, request)
    if sent.blocking:
        wait_for_run(
            sent.turn.id,
            chat_id=sent.turn.chat_id,
            timeout=settings.UAI_TURN_WAIT_SECONDS,
            until=Run.TURN_ENDS,
        )
    run = run_selectors.run_find(run_id=sent.turn.id) or sent.turn
    return {"task": snapshot(run, history_length=sent.history_length, base=base)}


# --- reading tasks -------------------------------------------------------------------------------


def snapshot(
    run: Run, *, history_length: int | None, base: str, artifacts: bool = True, seq: int | None = None
) -> dict[str, Any]:
    """The task a run is now (``a2a_events.task_of``) from its rows: what its events say to A2A
    (``task_stories``: a stretch of deltas read as one) and its newest messages (sliced in SQL,
    ``historyLength`` or at most UAI_A2A_MAX_HISTORY)."""
    newest = history_length if history_length is not None else settings.UAI_A2A_MAX_HISTORY
    return a2a_events.task_of(
        run,
        events=run_selectors.task_stories(run_ids=[run.id])[str(run.id)] if artifacts else None,
        messages=chat_selectors.run_messages(run_id=run.id, newest=newest) if newest != 0 else None,
        history_length=newest,
        base_url=base,
        seq=seq,
    )


def get_task(user: Any, agent: Agent, request: a2a_pb2.GetTaskRequest, base: str) -> dict[str, Any]:
    """``GetTask``: the task with its history (the last ``historyLength`` messages) and artifacts."""
    if request.HasField("history_length") and request.history_length < 0:
        raise a2a_errors.InvalidParamsError("'historyLength' must not be negative.")
    history = request.history_length if request.HasField("history_length") else None
    return snapshot(owned_run(user, agent, request.id), history_length=history, base=base)


PAGE_TOKEN = "k:"  # a page token: "k:<updated_at ISO 8601>|<run id>" of the page's last task, base64url
PAGE_TOKEN_CHARS = 200


def _key(token: str) -> tuple[datetime.datetime, uuid.UUID] | None:
    """The key a page token carries (None: the first page); InvalidParams for anything this
    server did not give."""
    if not token:
        return None
    bad = a2a_errors.InvalidParamsError("'pageToken' is not one this server gave.")
    if len(token) > PAGE_TOKEN_CHARS:
        raise bad
    try:
        raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("ascii")
        if not raw.startswith(PAGE_TOKEN):
            raise bad
        at_text, _, id_text = raw.removeprefix(PAGE_TOKEN).partition("|")
        at = datetime.datetime.fromisoformat(at_text)
        run_id = uuid.UUID(id_text)
    except (ValueError, binascii.Error, UnicodeError):
        raise bad from None
    if at.tzinfo is None:
        raise bad
    return at, run_id


def _token(run: Run) -> str:
    key = f"{PAGE_TOKEN}{run.updated_at.isoformat()}|{run.id}"
    return base64.urlsafe_b64encode(key.encode()).decode()


def list_tasks(user: Any, agent: Agent, request: a2a_pb2.ListTasksRequest, base: str) -> dict[str, Any]:
    """``ListTasks``: the user's tasks with the agent, newest update first, filtered and paged."""
    size = request.page_size if request.HasField("page_size") else DEFAULT_PAGE_SIZE
    if not 1 <= size <= settings.UAI_A2A_MAX_PAGE_SIZE:
        raise a2a_errors.InvalidParamsError(f"'pageSize' is 1 to {settings.UAI_A2A_MAX_PAGE_SIZE}.")
    if request.HasField("history_length") and request.history_length < 0:
        raise a2a_errors.InvalidParamsError("'historyLength' must not be negative.")
    history = request.history_length if request.HasField("history_length") else 0
    statuses = None
    if request.status != a2a_pb2.TASK_STATE_UNSPECIFIED:
        state = a2a_pb2.TaskState.Name(request.status)
        statuses = [a2a_events.STATUSES[state]] if state in a2a_events.STATUSES else ["none"]
    after = (
        request.status_timestamp_after.ToDatetime(tzinfo=datetime.UTC)
        if request.HasField("status_timestamp_after")
        else None
    )
    before = _key(request.page_token)
    runs, more, total = run_selectors.task_page(
        user=user,
        agent_name=agent.name,
        context_id=request.context_id or None,
        statuses=statuses,
        updated_after=after,
        before=before,
        limit=size,
    )
    ids = [run.id for run in runs]
    events = run_selectors.task_stories(run_ids=ids) if request.include_artifacts else None
    messages = chat_selectors.run_messages_of(run_ids=ids, newest=history) if history != 0 else None
    tasks = [
        a2a_events.task_of(
            run,
            events=events[str(run.id)] if events is not None else None,
            messages=messages[str(run.id)] if messages is not None else None,
            history_length=history,
            base_url=base,
        )
        for run in runs
    ]
    return {
        "tasks": tasks,
        "nextPageToken": _token(runs[-1]) if more and runs else "",
        "pageSize": size,
        "totalSize": total,
    }


def cancel(user: Any, agent: Agent, request: a2a_pb2.CancelTaskRequest, base: str) -> dict[str, Any]:
    """``CancelTask``: the run is cancelled at once (its job aborted); TaskNotCancelable once it ended."""
    run = owned_run(user, agent, request.id)
    try:
        run = run_services.run_cancel(run=run)
    except errors.Conflict:
        raise a2a_errors.TaskNotCancelableError(f"Task {run.id} has ended already.") from None
    return snapshot(run, history_length=None, base=base)


# --- streams ---------------------------------------------------------------------------------------


@dataclass
class Followed:
    """A stream to send: the task's snapshot first, then what its run says after ``after``."""

    turn: Run  # the run
    after: a2a_events.Cursor
    first: dict[str, Any]
    follow: bool = True


def stream_of(sent: Sent, base: str) -> Followed:
    """``SendStreamingMessage``'s stream: the task as it starts, then its events."""
    first = {"task": snapshot(sent.turn, history_length=sent.history_length, base=base, seq=sent.after)}
    return Followed(sent.turn, (sent.after, None), first)


def subscribe(user: Any, agent: Agent, task_id: str, after: a2a_events.Cursor | None, base: str) -> Followed:
    """``SubscribeToTask``: the task now, then its events after ``after`` (the client's cursor,
    ``metadata.uai.after``; live ones only without one). A task that ended before the cursor is
    UnsupportedOperation, as A2A says of a terminal task; one waiting for input ends its stream
    after the snapshot."""
    owned_run(user, agent, task_id)  # (whose it is first: another user learns nothing)
    # The last event number BEFORE the run's row: a run that ends between the two reads is then
    # seen ended with its final event after the cursor, and its stream says the end; read the
    # other way round, the cursor was the final event and a stale status never stopped.
    last = run_selectors.run_last_event(run_id=task_id)
    run = owned_run(user, agent, task_id)
    cursor: a2a_events.Cursor = (last, None) if after is None or after[0] > last else after
    first = {"task": snapshot(run, history_length=None, base=base, seq=cursor[0])}
    if cursor[1] is not None:  # (the snapshot stands between two responses of that event)
        first["task"]["metadata"]["uai"]["cursor"] = a2a_events.cursor_text(cursor)
    if cursor == (last, None) and run.status in Run.TURN_ENDS:
        if run.is_terminal:
            raise a2a_errors.UnsupportedOperationError(
                f"Task {run.id} is {run.status}: nothing more will come."
            )
        return Followed(run, cursor, first, follow=False)
    return Followed(run, cursor, first)


def sse_id(item: dict[str, Any], followed: Followed) -> str:
    """A stream item's SSE ``id``: the cursor after it (the snapshot's: the stream's own)."""
    if "task" in item:
        return a2a_events.cursor_text(followed.after)
    return a2a_events.cursor_of(item)


async def events_after(
    followed: Followed, base: str
) -> AsyncIterator[dict[str, Any] | ui_events.Broken | None]:
    """The stream's responses: the snapshot, then each of the run's after the cursor, stored then
    live, to the task's end or its question; None while nothing happens; a ``Broken`` last when
    the stream cannot go on."""
    yield followed.first
    if not followed.follow:
        return
    translator = a2a_events.A2AEvents(followed.turn.id, followed.turn.chat_id, base_url=base)
    after = followed.after
    # a stop within the cursor's event, after the response it names, is still to be said
    stop_after = after[0] if after[1] is None else after[0] - 1

    def tell(event: StreamEvent) -> list[dict[str, Any]]:
        said = translator.feed(event)
        return [r for i, r in enumerate(said) if a2a_events.is_after(event["seq"], i, after)]

    done: Callable[[], bool] = lambda: translator.stopped_after(stop_after)  # noqa: E731
    async for told in ui_events.follow_told(followed.turn.id, tell, done, resume_hint="subscribe again"):
        if told is None or isinstance(told, ui_events.Broken):
            yield told
            continue
        for response in told:
            yield response


def last_event_id(request: Any) -> str | None:
    """What a reconnecting SSE client saw last (``Last-Event-ID`` header, or ``?last_event_id=``
    as ``sse.last_event_id`` reads it; ``?after=`` too on HTTP+JSON, as documented) — raw: an
    A2A cursor may be "N.i", which ``resume_point`` reads."""
    found = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    return str(found or request.GET.get("after") or "") or None


def resume_point(metadata: Any, header: str | None) -> a2a_events.Cursor | None:
    """Where a resuming client stands: ``metadata.uai.after``, or ``Last-Event-ID`` — an event
    number N, or "N.i" (``metadata.uai.cursor`` of a response its event says more after)."""
    raw: Any = None
    if isinstance(metadata, dict) and isinstance(metadata.get("uai"), dict):
        raw = metadata["uai"].get("after")
    if raw is None and header:
        raw = header
    if raw is None:
        return None
    cursor = a2a_events.parse_cursor(raw)
    if cursor is None or cursor[0] >= 2**63:
        raise a2a_errors.InvalidParamsError('metadata.uai.after is an event number N, or "N.i".')
    return cursor


# --- push notification configs ------------------------------------------------------------------------


def _config_json(webhook: Any) -> dict[str, Any]:
    """A webhook as the A2A push notification config it is (its credentials not repeated)."""
    config: dict[str, Any] = {"id": webhook.name, "taskId": str(webhook.run_id), "url": webhook.url}
    if webhook.token:
        config["token"] = webhook.token
    if webhook.auth_scheme:
        config["authentication"] = {"scheme": webhook.auth_scheme}
    return config


def _allowed(url: str) -> None:
    """InvalidParams unless UAI may call ``url`` (UAI_WEBHOOK_ALLOWED_URLS)."""
    try:
        webhook_services.check_url(url)
    except webhook_services.WebhookRefused as refused:
        raise a2a_errors.InvalidParamsError(refused.detail) from None


def _push_fields(config: a2a_pb2.TaskPushNotificationConfig) -> dict[str, Any]:
    return {
        "url": config.url,
        "format": "a2a",
        "token": config.token,
        "auth_scheme": config.authentication.scheme,
        "auth_credentials": config.authentication.credentials,
    }


def _push_check(config: a2a_pb2.TaskPushNotificationConfig) -> None:
    """InvalidParams for a push config ``push_create`` would refuse (its URL, token, credentials,
    lengths, id), before anything is written."""
    try:
        webhook_services.webhook_check(**_push_fields(config), name=config.id or uuid.uuid4().hex)
    except (webhook_services.WebhookRefused, errors.InvalidInput) as refused:
        raise a2a_errors.InvalidParamsError(refused.detail) from None


def push_create(
    user: Any, agent: Agent, run: Run, config: a2a_pb2.TaskPushNotificationConfig
) -> dict[str, Any]:
    """A push notification config of a task: UAI POSTs its StreamResponses to ``url``, signed
    (a webhook of format ``a2a``; one of the same id is replaced)."""
    _allowed(config.url)
    try:
        webhook = webhook_services.webhook_create(
            owner_id=user.pk, run=run, name=config.id or uuid.uuid4().hex, **_push_fields(config)
        )
    except webhook_services.WebhookRefused as refused:
        raise a2a_errors.InvalidParamsError(refused.detail) from None
    return _config_json(webhook)


def _push_new(user: Any, agent: Agent, params: Any) -> dict[str, Any] | None:
    config = parse(a2a_pb2.TaskPushNotificationConfig(), params)
    return push_create(user, agent, owned_run(user, agent, config.task_id), config)


def _push_config(user: Any, agent: Agent, task_id: str, config_id: str) -> Any:
    webhook = webhook_selectors.webhook_get(run=owned_run(user, agent, task_id), name=config_id)
    if webhook is None:
        raise a2a_errors.TaskNotFoundError(f"No push notification config {config_id!r} of this task.")
    return webhook


def _push_get(user: Any, agent: Agent, params: Any) -> dict[str, Any] | None:
    asked = parse(a2a_pb2.GetTaskPushNotificationConfigRequest(), params)
    return _config_json(_push_config(user, agent, asked.task_id, asked.id))


def _push_list(user: Any, agent: Agent, params: Any) -> dict[str, Any] | None:
    asked = parse(a2a_pb2.ListTaskPushNotificationConfigsRequest(), params)
    webhooks = webhook_selectors.webhook_list(run=owned_run(user, agent, asked.task_id))
    return {"configs": [_config_json(w) for w in webhooks if w.format == "a2a"], "nextPageToken": ""}


def _push_delete(user: Any, agent: Agent, params: Any) -> dict[str, Any] | None:
    asked = parse(a2a_pb2.DeleteTaskPushNotificationConfigRequest(), params)
    webhook_services.webhook_delete(webhook=_push_config(user, agent, asked.task_id, asked.id))
    return None


PUSH_METHODS: dict[str, Callable[[Any, Agent, Any], dict[str, Any] | None]] = {
    "CreateTaskPushNotificationConfig": _push_new,
    "GetTaskPushNotificationConfig": _push_get,
    "ListTaskPushNotificationConfigs": _push_list,
    "DeleteTaskPushNotificationConfig": _push_delete,
}


def push_v03(user: Any, agent: Agent, method: str, call: Any) -> Any:
    """0.3's push notification config methods, in 0.3's shapes."""

    def compat(config: dict[str, Any] | None) -> Any:
        parsed = parse(a2a_pb2.TaskPushNotificationConfig(), config)
        dumped = conversions.to_compat_task_push_notification_config(parsed)
        return dumped.model_dump(mode="json", by_alias=True, exclude_none=True)

    if method == "tasks/pushNotificationConfig/set":
        core = conversions.to_core_create_task_push_notification_config_request(call)
        return compat(_push_new(user, agent, to_json(core)))
    if method == "tasks/pushNotificationConfig/get":
        got = conversions.to_core_get_task_push_notification_config_request(call)
        if not got.id:  # 0.3 names a task's config by the task alone
            configs = _push_list(user, agent, {"taskId": got.task_id}) or {}
            if not configs.get("configs"):
                raise a2a_errors.TaskNotFoundError("The task has no push notification config.")
            return compat(configs["configs"][0])
        return compat(_push_get(user, agent, to_json(got)))
    if method == "tasks/pushNotificationConfig/list":
        listed = conversions.to_core_list_task_push_notification_config_request(call)
        return [compat(c) for c in (_push_list(user, agent, to_json(listed)) or {})["configs"]]
    deleted = conversions.to_core_delete_task_push_notification_config_request(call)
    return _push_delete(user, agent, to_json(deleted))
