"""OpenAI's Responses API: ``/v1/responses``, each response a segment of a UAI turn (a durable run).

A response is one segment of a turn run of one of the user's chats (see
``openai_response_events``): ``resp_{run.hex}`` up to the agent's first question or its end,
``resp_{run.hex}_{k}`` after its k-th question was answered. Its stream and its snapshot are
R's stored events replayed through one translator, so ``GET /v1/responses/{id}`` always shows
what a stream showed, and a stream resumes from any event (``starting_after``) as long as UAI
keeps events — a background response survives restarts of the web processes and workers.

Which chat a new response goes to: ``conversation`` (a UAI chat id), the chat of
``previous_response_id`` (the agent sees that chat's history; a previous response that is not the
chat's latest still continues the chat, not a branch of it), or a new chat of ``model``.

Deleting a response deletes its run (every segment of it); the chat and its other turns stay.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.http import StreamingHttpResponse
from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from uai.agents.models import Agent
from uai.artifacts.presenters import artifact_data
from uai.chats import selectors as chat_selectors
from uai.chats import services as chat_services
from uai.chats.models import Chat, new_chat_id
from uai.dialects import sse, ui_events
from uai.dialects.openai_common import BadParameter, OpenAIView, epoch, error_object, model_agent
from uai.dialects.openai_response_events import (
    ResponseEvents,
    ResponseHead,
    call_id,
    parse_response_id,
    response_id,
)
from uai.runs import selectors as run_selectors
from uai.runs import services as run_services
from uai.runs.models import Run
from uai.runs.stream_events import StreamEvent
from uai.runs.waiting import release_connection, wait_for_run
from uai_project import errors
from uai_project.api import base_url, flag, user_id, whole_number

MAX_METADATA_KEYS = 16  # OpenAI's limits on ``metadata``
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
CHAT_NAME_CHARS = 60  # a new chat is named after the start of its first message
MAX_INPUT_ITEMS_PAGE = 100
ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "agent"}
# Items a client may send back from an earlier output: the chat has them already.
ECHOED_ITEMS = {"reasoning", "function_call", "item_reference"}
DATA_URL = re.compile(r"^data:(?P<media>[^;,]*)(?P<params>(;[^;,]*)*),(?P<data>.*)$", re.DOTALL)


class Missing(errors.NotFound):
    """A 404 that names the parameter at fault, if a parameter named it."""

    def __init__(self, detail: str, *, param: str | None = None) -> None:
        super().__init__(detail)
        self.param = param


def response_missing(raw: str, *, param: str | None = None) -> Missing:
    """An unknown id, a malformed one, or another user's response: all the same 404."""
    return Missing(f"Response with id '{raw}' not found.", param=param)


# --- the create request -------------------------------------------------------------------------


@dataclass
class Asked:
    """A ``POST /v1/responses`` body, checked: the turn it sends and what it asks of the response."""

    model: str | None = None
    text: str = ""
    files: list[UploadedFile] = field(default_factory=list)
    before: list[tuple[str, str]] = field(default_factory=list)
    answer: tuple[str, str] | None = None  # (call_id, output) of a function_call_output
    instructions: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    previous_response_id: str | None = None
    conversation: str | None = None
    background: bool = False
    stream: bool = False

    def echo(self) -> dict[str, Any]:
        """What the response echoes back (``Run.request``)."""
        return {
            "instructions": self.instructions,
            "metadata": self.metadata,
            "background": self.background,
            "previous_response_id": self.previous_response_id,
            "conversation": self.conversation,
        }


def _bad(param: str, message: str, code: str | None = "invalid_value") -> BadParameter:
    return BadParameter(message, param=param, openai_code=code)


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(name, f"Invalid type for '{name}': expected a string.", "invalid_type")
    return value


def _boolean(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _bad(name, f"Invalid type for '{name}': expected a boolean.", "invalid_type")
    return bool(value)


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad("metadata", "Invalid type for 'metadata': expected an object.", "invalid_type")
    if len(value) > MAX_METADATA_KEYS:
        raise _bad("metadata", f"'metadata' has {len(value)} keys; at most {MAX_METADATA_KEYS} are allowed.")
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise _bad("metadata", f"A 'metadata' key is at most {MAX_METADATA_KEY_CHARS} characters.")
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE_CHARS:
            raise _bad(
                "metadata", f"'metadata' values are strings of at most {MAX_METADATA_VALUE_CHARS} characters."
            )
    return dict(value)


def _conversation(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
        if not isinstance(value, str):
            raise _bad(
                "conversation.id", "Invalid type for 'conversation.id': expected a string.", "invalid_type"
            )
    if value is not None and not isinstance(value, str):
        raise _bad(
            "conversation", "Invalid type for 'conversation': expected a string or an object.", "invalid_type"
        )
    return value or None


def _data_url_bytes(value: Any, param: str) -> tuple[str, bytes]:
    """(media type, bytes) of a ``data:…;base64,…`` URL."""
    matched = DATA_URL.match(value) if isinstance(value, str) else None
    if matched is None or ";base64" not in matched["params"]:
        raise _bad(param, f"'{param}' must be a base64 data: URL (other URLs are not fetched).")
    return matched["media"] or "application/octet-stream", _base64(matched["data"], param)


def _base64(value: str, param: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(param, f"'{param}' is not valid base64.") from None


def _upload(part: dict[str, Any], param: str, number: int) -> UploadedFile:
    """An image or file part of the user's message, as the upload the agent gets."""
    if part["type"] == "input_image":
        if part.get("image_url") is None:
            raise _bad(f"{param}.image_url", "An input_image needs an 'image_url' (a base64 data: URL).")
        media, content = _data_url_bytes(part.get("image_url"), f"{param}.image_url")
        name = f"image-{number}{mimetypes.guess_extension(media) or ''}"
        return SimpleUploadedFile(name, content, content_type=media)
    raw = part.get("file_data")
    if not isinstance(raw, str):
        raise _bad(f"{param}.file_data", "An input_file needs 'file_data' (base64, or a base64 data: URL).")
    filename = part.get("filename")
    if filename is not None and not isinstance(filename, str):
        raise _bad(f"{param}.filename", "Invalid type for 'filename': expected a string.", "invalid_type")
    if raw.startswith("data:"):
        media, content = _data_url_bytes(raw, f"{param}.file_data")
    else:
        media, content = "", _base64(raw, f"{param}.file_data")
    name = filename or f"file-{number}"
    return SimpleUploadedFile(name, content, content_type=media or mimetypes.guess_type(name)[0] or "")


def _content(content: Any, param: str, *, files: list[UploadedFile] | None) -> str:
    """A message's text; its image and file parts go to ``files`` (None: they may not be there)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(param, f"Invalid type for '{param}': expected a string or an array.", "invalid_type")
    texts = []
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            if not isinstance(part.get("text"), str):
                raise _bad(f"{where}.text", "Invalid type for 'text': expected a string.", "invalid_type")
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        elif kind in ("input_image", "input_file"):
            if files is None:
                raise _bad(where, "A function_call_output is text: images and files go in a user message.")
            files.append(_upload(part, where, len(files) + 1))
        else:
            raise _bad(f"{where}.type", f"Unsupported content part type: {kind!r}.")
    return "\n".join(texts)


def _items(asked: Asked, items: list[Any]) -> None:
    """The turn in a list of input items: the last user message (earlier ones are its history),
    or a ``function_call_output`` answering the agent's question."""
    if not items:
        raise _bad("input", "'input' is an empty array.", "empty_array")
    messages: list[tuple[int, str, Any]] = []
    answers: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise _bad(where, f"Invalid type for '{where}': expected an object.", "invalid_type")
        kind = item.get("type", "message")
        if kind == "message":
            if item.get("role") not in ROLES:
                raise _bad(f"{where}.role", f"Invalid value for 'role': {item.get('role')!r}.")
            messages.append((index, item["role"], item.get("content")))
        elif kind == "function_call_output":
            call, output = item.get("call_id"), item.get("output")
            if not isinstance(call, str):
                raise _bad(f"{where}.call_id", "A function_call_output needs its 'call_id'.", "invalid_type")
            answers.append((call, _content(output, f"{where}.output", files=None)))
        elif kind not in ECHOED_ITEMS:
            raise _bad(f"{where}.type", f"Unsupported input item type: {kind!r}.")
    if answers:
        if messages:
            raise _bad(
                "input", "A function_call_output answers the agent's question: send it without messages."
            )
        asked.answer = answers[-1]
        return
    users = [position for position, (_, role, _) in enumerate(messages) if role == "user"]
    if not users:
        raise _bad("input", "'input' has no user message.")
    last = users[-1]
    if last != len(messages) - 1:
        raise _bad(f"input[{messages[-1][0]}]", "The last message of 'input' must be the user's.")
    for index, role, content in messages[:last]:
        # An earlier message counts by its text (as in chat completions): a client that sends
        # the whole conversation back, images and all, is not refused; the agent has them already.
        asked.before.append((ROLES[role], _content(content, f"input[{index}].content", files=[])))
    index, _, content = messages[last]
    asked.text = _content(content, f"input[{index}].content", files=asked.files)


def parse_create(body: Any) -> Asked:
    """A ``POST /v1/responses`` body, checked (400 naming the parameter at fault); every other
    OpenAI parameter (tools, temperature, reasoning…) is accepted and has no effect."""
    if not isinstance(body, dict):
        raise BadParameter("The request body must be a JSON object.", param=None)
    asked = Asked(
        model=_string(body, "model") or None,
        instructions=_string(body, "instructions"),
        metadata=_metadata(body.get("metadata")),
        previous_response_id=_string(body, "previous_response_id") or None,
        conversation=_conversation(body.get("conversation")),
        background=_boolean(body, "background"),
        stream=_boolean(body, "stream"),
    )
    _boolean(body, "store")
    if asked.previous_response_id and asked.conversation:
        raise _bad("conversation", "Give either 'previous_response_id' or 'conversation', not both.", None)
    given = body.get("input")
    if isinstance(given, str):
        asked.text = given
    elif isinstance(given, list):
        _items(asked, given)
    elif given is None:
        raise _bad("input", "Missing required parameter: 'input'.", "missing_required_parameter")
    else:
        raise _bad("input", "Invalid type for 'input': expected a string or an array.", "invalid_type")
    if len(asked.text) > settings.UAI_MAX_MESSAGE_CHARS:
        raise _bad(
            "input",
            f"A message is at most {settings.UAI_MAX_MESSAGE_CHARS} characters.",
            "string_above_max_length",
        )
    if asked.instructions:
        asked.before.insert(0, ("system", asked.instructions))
    return asked


# --- lookups ---------------------------------------------------------------------------------------


def lookup(user: Any, raw: str, *, param: str | None = None) -> tuple[Run, int]:
    """The user's response ``raw``: its run and segment, or 404."""
    parsed = parse_response_id(raw)
    if parsed is None:
        raise response_missing(raw, param=param)
    run_id, segment = parsed
    try:
        run = run_selectors.run_get(user=user, run_id=str(run_id))
    except errors.NotFound:
        raise response_missing(raw, param=param) from None
    if run.chat_id is None or (segment and segment >= len(chat_selectors.run_user_messages(run_id=run.id))):
        raise response_missing(raw, param=param)  # a task, not a turn; or a question never answered
    return run, segment


def head_of(request: Request, run: Run, segment: int) -> ResponseHead:
    """What the response echoes, from what its create stored in ``Run.request``."""
    stored = run.request or {}
    return ResponseHead(
        run_id=run.id,
        segment=segment,
        model=run.agent_id,
        created_at=epoch(run.created_at),
        background=bool(stored.get("background")),
        instructions=stored.get("instructions"),
        metadata=stored.get("metadata") or {},
        previous_response_id=response_id(run.id, segment - 1)
        if segment
        else stored.get("previous_response_id"),
        conversation=stored.get("conversation"),
        base_url=base_url(request),
    )


def snapshot(request: Request, run: Run, segment: int) -> dict[str, Any]:
    """The response as its stream has shown it so far: the run's stored events, replayed."""
    translator = ResponseEvents(head_of(request, run, segment))
    for event in run_selectors.run_events(run_id=run.id):
        translator.feed(event)
        if translator.done:
            break
    if not translator.started and run.status == Run.Status.SUCCEEDED:
        # Its events are gone (UAI_EVENT_RETENTION_DAYS): the answer is still the chat's message
        # (the last response of the run has it).
        final = chat_selectors.final_answer(run=run)
        if final is not None and segment == len(chat_selectors.run_user_messages(run_id=run.id)) - 1:
            translator.settle(run.status, None, answer=(f"msg_{final.id.hex}", final.content))
            return translator.snapshot()
    translator.settle(run.status, run.error or None)
    return translator.snapshot()


# --- the stream ----------------------------------------------------------------------------------


def _error_event(error: errors.UAIError, number: int) -> bytes:
    """A stream's last event when it cannot go on: OpenAI's ``error`` event."""
    shaped = error_object(error)
    data = {
        "type": "error",
        "code": shaped["code"],
        "message": error.detail,
        "param": None,
        "sequence_number": number,
    }
    return sse.encode(None, data, "error")


async def response_events(head: ResponseHead, *, after: int) -> AsyncIterator[bytes]:
    """The response's stream events numbered above ``after``: its run's events from the first
    (stored, then live) through the translator, to the response's end. No ``id:`` lines: the
    SDK's decoder breaks on a keep-alive comment after one (``starting_after`` resumes)."""
    translator = ResponseEvents(head)

    def tell(event: StreamEvent) -> list[dict[str, Any]]:
        return [out for out in translator.feed(event) if out["sequence_number"] > after]

    async for told in ui_events.follow_told(
        head.run_id,
        tell,
        lambda: translator.done,
        run_gone="The response was deleted.",
        chat_gone="The conversation was deleted.",
        resume_hint="resume with starting_after",
    ):
        if told is None:
            yield sse.KEEPALIVE
        elif isinstance(told, ui_events.Broken):
            yield _error_event(told.error, translator.next_number)
        else:
            for out in told:
                yield sse.encode(None, out, out["type"])


def stream_response(request: Request, run: Run, segment: int, *, after: int = -1) -> StreamingHttpResponse:
    head = head_of(request, run, segment)
    release_connection()  # the stream must not hold this request's connection
    return sse.response(response_events(head, after=after))


# --- creating ----------------------------------------------------------------------------------------


def _chat_of(user: Any, asked: Asked) -> tuple[Chat | Agent, Run | None]:
    """The chat the response goes to (the agent of a new one, which its turn creates), and the
    run of ``previous_response_id`` if one was named."""
    if asked.previous_response_id:
        run, _ = lookup(user, asked.previous_response_id, param="previous_response_id")
        try:
            return chat_selectors.chat_get(user=user, chat_id=run.chat_id or ""), run
        except errors.NotFound:
            raise response_missing(asked.previous_response_id, param="previous_response_id") from None
    if asked.conversation:
        try:
            return chat_selectors.chat_get(user=user, chat_id=asked.conversation), None
        except errors.NotFound:
            missing = f"Conversation with id '{asked.conversation}' not found."
            raise Missing(missing, param="conversation") from None
    agent = model_agent(asked.model)
    if asked.files and not agent.accepts_files:  # (before a chat is made for nothing)
        raise _bad("input", f"The model '{agent.name}' does not take images or files.")
    return agent, None


def _use_model(chat: Chat, model: str | None) -> None:
    """The chat's agent is the model named (a chat that has had no turn yet takes it)."""
    agent = model_agent(model or chat.agent_id)  # 404 model_not_found: unknown or disabled
    if agent.name == chat.agent_id:
        return
    if chat_selectors.chat_latest_run(chat=chat) is not None:
        raise _bad("model", f"This conversation's model is '{chat.agent_id}', not '{agent.name}'.")
    chat_services.chat_update(chat=chat, fields={"agent": agent})


def _answer(chat: Chat, asking: Run | None, asked: Asked) -> Run:
    """A function_call_output: the answer to the question the previous response ended with."""
    if asking is None or asked.answer is None:
        raise _bad("input", "A function_call_output needs the 'previous_response_id' that asked.")
    given, output = asked.answer
    questions = len(chat_selectors.run_user_messages(run_id=asking.id))
    if asking.status != Run.Status.INPUT_REQUIRED or given != call_id(asking.id, questions):
        raise _bad("input", f"No question waits for call_id '{given}'.")
    run, _ = chat_services.chat_send(chat=chat, text=output, answering=asking)
    return run


def create(request: Request, asked: Asked) -> Response | StreamingHttpResponse:
    """Send the turn (or the answer), then stream it, answer at once (background), or wait for it."""
    chat, previous = _chat_of(request.user, asked)
    if isinstance(chat, Agent):  # a new chat and its turn, committed together (chat_start)
        chat, run, _ = chat_services.chat_start(
            owner_id=user_id(request),
            agent=chat,
            chat_id=new_chat_id(),
            name=asked.text[:CHAT_NAME_CHARS],
            text=asked.text,
            files=asked.files,
            before=asked.before,
            request=asked.echo(),
        )
    elif asked.answer is not None:
        run = _answer(chat, previous, asked)
    else:
        _use_model(chat, asked.model)
        run, _ = chat_services.chat_send(
            chat=chat, text=asked.text, files=asked.files, before=asked.before, request=asked.echo()
        )
    # The answer to a waiting run's k-th question is its (k+1)-th user message: segment k.
    segment = len(chat_selectors.run_user_messages(run_id=run.id)) - 1
    if asked.stream:
        return stream_response(request, run, segment)
    if not asked.background:
        wait_for_run(run.id, chat_id=chat.id, timeout=settings.UAI_TURN_WAIT_SECONDS, until=Run.TURN_ENDS)
        ended = run_selectors.run_find(run_id=run.id)
        if ended is None:  # its chat was deleted meanwhile
            raise response_missing(response_id(run.id, segment))
        run = ended
    return Response(snapshot(request, run, segment))


# --- views -----------------------------------------------------------------------------------------


def _query_number(request: Request, name: str, *, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return whole_number(raw, name, minimum=minimum)
    except errors.InvalidInput as exc:
        raise _bad(name, exc.detail) from None


class ResponsesView(OpenAIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, tags=["openai"])
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        """Create a response: a turn of a chat (``stream``: SSE; ``background``: answered at once)."""
        return create(request, parse_create(request.data))


class ResponseDetailView(OpenAIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, tags=["openai"])
    def get(self, request: Request, response_id: str) -> Response | StreamingHttpResponse:
        """The response; ``stream=true``: its events after ``starting_after``, then live, to its end."""
        try:
            streaming = flag(request.query_params.get("stream"), False)
        except errors.InvalidInput as exc:
            raise _bad("stream", exc.detail) from None
        after = _query_number(request, "starting_after", minimum=-1)
        run, segment = lookup(request.user, response_id)
        if streaming:
            return stream_response(request, run, segment, after=-1 if after is None else after)
        return Response(snapshot(request, run, segment))

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=["openai"])
    def delete(self, request: Request, response_id: str) -> Response:
        """Delete the response: its run (every segment of it), cancelled first if it is going."""
        run, _ = lookup(request.user, response_id)
        run_services.run_delete(run=run)
        return Response({"id": response_id, "object": "response", "deleted": True})


class ResponseCancelView(OpenAIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, tags=["openai"])
    def post(self, request: Request, response_id: str) -> Response:
        """Cancel the response's run if this is its current segment; the snapshot either way."""
        run, segment = lookup(request.user, response_id)
        current = len(chat_selectors.run_user_messages(run_id=run.id)) - 1
        if run.status in Run.ACTIVE and segment == current:
            try:
                run = run_services.run_cancel(run=run)
            except errors.Conflict:
                pass  # it ended meanwhile: its snapshot as it ended
        return Response(snapshot(request, run, segment))


class ResponseInputItemsView(OpenAIView):
    @extend_schema(responses=OpenApiTypes.OBJECT, tags=["openai"])
    def get(self, request: Request, response_id: str) -> Response:
        """What the response was given: the user's message, or the answer to the agent's question."""
        run, segment = lookup(request.user, response_id)
        limit = min(_query_number(request, "limit", minimum=1) or 20, MAX_INPUT_ITEMS_PAGE)
        order = request.query_params.get("order") or "desc"
        if order not in ("asc", "desc"):
            raise _bad("order", "'order' is 'asc' or 'desc'.")
        items = input_items(request, run, segment)
        if order == "desc":
            items.reverse()
        after = request.query_params.get("after")
        if after:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise _bad("after", f"No input item '{after}' in this response.")
            items = items[ids.index(after) + 1 :]
        page = items[:limit]
        return Response(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(items) > limit,
            }
        )


def input_items(request: Request, run: Run, segment: int) -> list[dict[str, Any]]:
    """The response's input, oldest first: the run's first user message (segment 0, its files as
    input_file items' URLs), else the answer to the segment's question."""
    message = chat_selectors.run_user_messages(run_id=run.id)[segment]
    if segment:
        return [
            {
                "type": "function_call_output",
                "id": f"fco_{message.id.hex}",
                "call_id": call_id(run.id, segment),
                "output": message.content,
                "status": "completed",
            }
        ]
    base = base_url(request)
    files = chat_selectors.message_files([message]).get(message.id, [])
    content: list[dict[str, Any]] = [{"type": "input_text", "text": message.content}]
    content += [
        {
            "type": "input_file",
            "filename": a.name,
            "file_url": artifact_data(a, base_url=base)["download_url"],
        }
        for a in files
    ]
    return [
        {
            "type": "message",
            "id": f"msg_{message.id.hex}",
            "role": "user",
            "status": "completed",
            "content": content,
        }
    ]


RESPONSE = r"^responses/(?P<response_id>[^/]+)"
urlpatterns = [
    re_path(r"^responses/?$", ResponsesView.as_view(), name="openai-responses"),
    re_path(RESPONSE + r"/?$", ResponseDetailView.as_view(), name="openai-response"),
    re_path(RESPONSE + r"/cancel/?$", ResponseCancelView.as_view(), name="openai-response-cancel"),
    re_path(
        RESPONSE + r"/input_items/?$", ResponseInputItemsView.as_view(), name="openai-response-input-items"
    ),
]
