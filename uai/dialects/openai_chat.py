"""OpenAI ``POST /v1/chat/completions``: one turn of a UAI agent (``model`` = the agent's name).

Stateless, as OpenAI's: every call is a new UAI chat of the user, its last user message the turn
and the earlier messages the history the agent is shown (stored just before the turn's message,
visible on every other surface). Image and file parts of the last message reach the agent as
uploads; UAI fetches no URL, so an image is a ``data:`` URL.

An agent that asks (``input_required``) answers with a tool call ``uai_input`` (arguments
``{"prompt": …}``, id ``call_{run}_{k}`` for the run's k-th question); a request whose last
message is a ``tool`` message with that ``tool_call_id`` answers it, and the same run goes on —
no new chat, the same ``chatcmpl-{run}`` id.

Streamed (``stream: true``): ``chat.completion.chunk``s — the role first, the agent's steps as
``reasoning_content`` (clients show it as thinking), the answer's text as it comes, the finish,
the usage when ``stream_options.include_usage`` — then ``data: [DONE]``. A turn that fails ends
the stream with an error chunk (which OpenAI's clients raise), never with a cut connection.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import mimetypes
import re
import urllib.parse
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import DatabaseError
from django.http import StreamingHttpResponse
from django.urls import re_path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from uai.agents import events as ev
from uai.agents.models import Agent
from uai.chats import selectors as chat_selectors
from uai.chats import services
from uai.chats.models import Message, new_chat_id
from uai.dialects import answer_text, sse
from uai.dialects.openai_common import (
    BadParameter,
    OpenAIView,
    epoch,
    error_object,
    model_agent,
    token_counts,
)
from uai.runs import selectors as run_selectors
from uai.runs import streams
from uai.runs.models import Run
from uai.runs.stream_events import EventType, StreamEvent
from uai.runs.waiting import TurnWatch, release_connection
from uai_project import errors
from uai_project.errors import outage
from uai_project.schema import OpenAIError

logger = logging.getLogger(__name__)

DIALECT = "openai.chat.completions"
INPUT_TOOL = "uai_input"  # the function an agent's question is called as
DONE = b"data: [DONE]\n\n"
CHAT_NAME_CHARS = 80  # a new chat is named after the start of the turn's message

# OpenAI's roles → a UAI message's (None: not history; a tool message answers a question).
ROLES: dict[str, str | None] = {
    "system": Message.Role.SYSTEM,
    "developer": Message.Role.SYSTEM,
    "user": Message.Role.USER,
    "assistant": Message.Role.AGENT,
    "tool": None,
}
CALL_ID = re.compile(r"^call_([0-9a-f]{32})_([1-9][0-9]{0,8})$")


# --- The request ----------------------------------------------------------------------------------


@dataclass
class Ask:
    """What a request asks, checked: the turn's text and files, its history, how to answer."""

    model: Any
    text: str
    files: list[UploadedFile] = field(default_factory=list)
    before: list[tuple[str, str]] = field(default_factory=list)
    answers: str | None = None  # the tool_call_id of the question the last message answers
    at: int = 0  # the index of the turn's message in ``messages``
    stream: bool = False
    include_usage: bool = False
    metadata: dict[str, str] | None = None


def parse_request(body: Any) -> Ask:
    """Read and check a request body; 400 naming the parameter at fault."""
    if not isinstance(body, dict):
        raise BadParameter("The request body must be a JSON object.", param=None)
    n = body.get("n")
    if n is not None and (type(n) is not int or n != 1):
        raise BadParameter(
            "UAI gives one choice per request: 'n' must be 1.", param="n", openai_code="invalid_value"
        )
    stream = _flag(body.get("stream"), "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _invalid_type("stream_options", "an object")
    include_usage = _flag((options or {}).get("include_usage"), "stream_options.include_usage")
    ask = _messages(body.get("messages"))
    ask.model = body.get("model")
    ask.stream, ask.include_usage = stream, include_usage
    ask.metadata = _metadata(body.get("metadata"))
    return ask


def _invalid_type(param: str, expected: str) -> BadParameter:
    return BadParameter(
        f"Invalid type for '{param}': expected {expected}.", param=param, openai_code="invalid_type"
    )


def _flag(value: Any, param: str) -> bool:
    if value is not None and not isinstance(value, bool):
        raise _invalid_type(param, "a boolean")
    return bool(value)


def _metadata(value: Any) -> dict[str, str] | None:
    """OpenAI's metadata: up to 16 string values under short keys (kept in ``Run.request``)."""
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 16:
        raise _invalid_type("metadata", "an object of at most 16 keys")
    for key, text in value.items():
        if len(key) > 64 or not isinstance(text, str) or len(text) > 512:
            raise BadParameter(
                "Metadata keys are at most 64 characters, values strings of at most 512.",
                param=f"metadata.{key[:64]}",
                openai_code="invalid_value",
            )
    return value


def _messages(messages: Any) -> Ask:
    """The turn (the last message) and its history (the ones before) of ``messages``."""
    if messages is None:
        raise BadParameter(
            "Missing required parameter: 'messages'.",
            param="messages",
            openai_code="missing_required_parameter",
        )
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array of messages")
    if not messages:
        raise BadParameter(
            "'messages' must hold at least one message.", param="messages", openai_code="empty_array"
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid_type(f"messages.{i}", "an object")
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise BadParameter(
                f"Invalid value: {role!r}. Supported values are: 'system', 'developer', 'user', "
                "'assistant' and 'tool'.",
                param=f"messages.{i}.role",
                openai_code="invalid_value",
            )
    last = len(messages) - 1
    turn = messages[last]
    if turn["role"] not in ("user", "tool"):
        raise BadParameter(
            "The last message must be the user's (or a tool message answering the agent's "
            f"'{INPUT_TOOL}' call).",
            param="messages",
            openai_code="invalid_value",
        )
    text, files = _content(turn.get("content"), f"messages.{last}.content", with_files=True)
    ask = Ask(model=None, text=text, files=files, at=last)
    if turn["role"] == "tool":
        call_id = turn.get("tool_call_id")
        if not isinstance(call_id, str):
            raise _invalid_type(f"messages.{last}.tool_call_id", "a string")
        ask.answers = call_id  # the chat already holds what came before
        return ask
    for i, message in enumerate(messages[:last]):
        role = ROLES[message["role"]]
        said, _ = _content(message.get("content"), f"messages.{i}.content", with_files=False)
        if role is not None and said.strip():
            ask.before.append((role, said))
    return ask


def _content(content: Any, param: str, *, with_files: bool) -> tuple[str, list[UploadedFile]]:
    """A message's text and (``with_files``: the turn's) files; earlier messages count by their
    text only."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise _invalid_type(param, "a string or an array of content parts")
    texts: list[str] = []
    files: list[UploadedFile] = []
    images = 0  # named image-1.png, image-2.jpg, …
    for m, part in enumerate(content):
        at = f"{param}.{m}"
        if not isinstance(part, dict):
            raise _invalid_type(at, "an object")
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise _invalid_type(f"{at}.text", "a string")
            texts.append(part["text"])
        elif kind == "refusal":
            continue  # an assistant's refusal: nothing the agent needs to see again
        elif kind == "image_url":
            if with_files:
                images += 1
                files.append(_image(part.get("image_url"), at, images))
        elif kind == "file":
            if with_files:
                files.append(_file(part.get("file"), at, len(files) + 1))
        else:
            raise BadParameter(
                f"Invalid value: {kind!r}. Supported content part types are 'text', 'image_url' and 'file'.",
                param=f"{at}.type",
                openai_code="invalid_value",
            )
    return "\n".join(texts), files


def _image(value: Any, at: str, number: int) -> UploadedFile:
    param = f"{at}.image_url.url"
    url = value.get("url") if isinstance(value, dict) else None
    if not isinstance(url, str):
        raise _invalid_type(param, "a string")
    if not url.startswith("data:"):
        raise BadParameter(
            "UAI fetches nothing from the internet: send the image inline, as a data: URL "
            "(data:image/png;base64,…).",
            param=param,
            openai_code="invalid_image_url",
        )
    media_type, content = _data_url(url, param)
    return SimpleUploadedFile(f"image-{number}{_extension(media_type)}", content, content_type=media_type)


def _file(value: Any, at: str, number: int) -> UploadedFile:
    if not isinstance(value, dict):
        raise _invalid_type(f"{at}.file", "an object")
    data, name = value.get("file_data"), value.get("filename")
    if not isinstance(data, str):
        raise BadParameter(
            "UAI keeps no files by id: send the file's content as file_data (base64, or a data: URL).",
            param=f"{at}.file.file_data",
            openai_code="missing_required_parameter",
        )
    if name is not None and not isinstance(name, str):
        raise _invalid_type(f"{at}.file.filename", "a string")
    if data.startswith("data:"):
        media_type, content = _data_url(data, f"{at}.file.file_data")
    else:
        media_type, content = "", _base64(data, f"{at}.file.file_data")
    name = name or f"file-{number}{_extension(media_type)}"
    return SimpleUploadedFile(
        name, content, content_type=media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    )


def _data_url(url: str, param: str) -> tuple[str, bytes]:
    """The media type and bytes of ``data:[<type>][;base64],<data>``."""
    head, comma, payload = url[len("data:") :].partition(",")
    if not comma:
        raise BadParameter(
            "Invalid data: URL: no ',' before the data.", param=param, openai_code="invalid_value"
        )
    media_type, *parameters = head.split(";")
    if "base64" in parameters:
        return media_type.strip().lower(), _base64(payload, param)
    return media_type.strip().lower(), urllib.parse.unquote_to_bytes(payload)


def _base64(text: str, param: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise BadParameter("Invalid base64 data.", param=param, openai_code="invalid_value") from None


def _extension(media_type: str) -> str:
    return (mimetypes.guess_extension(media_type) or "") if media_type else ""


def _chat_name(text: str) -> str:
    return " ".join(text.split())[:CHAT_NAME_CHARS]


# --- The turn -------------------------------------------------------------------------------------


@dataclass
class Turn:
    """A sent turn: what its answer is named after and where its events are."""

    chat_id: str
    model: str
    send: Callable[[], tuple[Run, Message]]
    question: int  # the number its next question gets (the user messages of its run then)


def start_turn(*, user: Any, agent: Agent, ask: Ask) -> Turn:
    """A new chat of the user with the agent, the turn to send in it (history first)."""
    if ask.files and not agent.accepts_files:
        raise BadParameter(
            f"The model '{agent.name}' takes no images or files.",
            param=f"messages.{ask.at}.content",
            openai_code="invalid_value",
        )
    chat_id = new_chat_id()

    def send() -> tuple[Run, Message]:
        _, run, message = services.chat_start(
            owner_id=user.pk,
            agent=agent,
            chat_id=chat_id,
            name=_chat_name(ask.text),
            text=ask.text,
            files=ask.files,
            before=ask.before,
            request={"dialect": DIALECT, "metadata": ask.metadata},
        )
        return run, message

    return Turn(chat_id=chat_id, model=agent.name, send=send, question=1)


def answer_turn(*, user: Any, ask: Ask) -> Turn:
    """The answer to the question ``ask.answers`` names, for the user's run waiting on it."""
    refused = BadParameter(
        f"No question of yours waits for an answer under tool_call_id {ask.answers!r}.",
        param="messages",
        openai_code="invalid_value",
    )
    found = CALL_ID.match(ask.answers or "")
    if found is None:
        raise refused
    try:  # another user's run is not found: never say it exists
        run = run_selectors.run_get(user=user, run_id=str(uuid.UUID(hex=found[1])))
    except errors.NotFound:
        raise refused from None
    if run.status != Run.Status.INPUT_REQUIRED or run.chat_id is None:
        raise refused
    chat = chat_selectors.chat_get(user=user, chat_id=run.chat_id)
    asked = len(chat_selectors.run_user_messages(run_id=run.id))
    if asked != int(found[2]):  # an earlier question's call, answered already
        raise refused

    def send() -> tuple[Run, Message]:
        return services.chat_send(chat=chat, text=ask.text, files=ask.files, answering=run)

    return Turn(chat_id=chat.id, model=run.agent_id, send=send, question=asked + 1)


def call_id(run_id: Any, question: int) -> str:
    return f"call_{uuid.UUID(str(run_id)).hex}_{question}"


def tool_call(run_id: Any, question: int, prompt: str) -> dict[str, Any]:
    """The agent's question as OpenAI's function tool call."""
    return {
        "id": call_id(run_id, question),
        "type": "function",
        "function": {"name": INPUT_TOOL, "arguments": json.dumps({"prompt": prompt})},
    }


def usage(stats: dict[str, Any]) -> dict[str, int]:
    given, made, total = token_counts(stats)
    return {"prompt_tokens": given, "completion_tokens": made, "total_tokens": total}


# --- A whole answer -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How a turn ended: its status, answer (or question), error and figures."""

    status: str
    answer: str = ""
    prompt: str = ""
    error: str = ""
    figures: dict[str, Any] = field(default_factory=dict)  # the agent's stats


def outcome_from_events(
    events: list[StreamEvent], *, run_id: str, after_seq: int, status: str
) -> Outcome | None:
    """The turn's outcome from the events a waiting request received; None when one of them went
    missing on the way (the tables have it)."""
    by_seq = {e["seq"]: e for e in events if isinstance(e.get("seq"), int) and e["seq"] > after_seq}
    outcome = Outcome(status=status)
    deltas: list[str] = []
    final: str | None = None
    seq = after_seq
    while True:
        seq += 1
        event = by_seq.get(seq)
        if event is None:
            return None
        if event.get("run_id") != run_id:
            continue
        if event["type"] == EventType.STEP and event["data"]["step_type"] == ev.FINAL_ANSWER_STEP:
            final = event["data"]["content"]
        elif event["type"] == EventType.DELTA:
            deltas.append(event["data"]["text"])
        elif event["type"] == EventType.INPUT_REQUIRED:
            outcome.prompt = event["data"]["prompt"]
        elif event["type"] == EventType.STATS:
            outcome.figures.update(event["data"].get("data") or {})
        elif event["type"] == EventType.STATUS and event["data"]["status"] == status:
            outcome.error = event["data"].get("error") or ""
            outcome.prompt = outcome.prompt or event["data"].get("input_prompt") or ""
            outcome.answer = final if final is not None else "".join(deltas)
            return outcome


def outcome_from_tables(run_id: Any) -> Outcome:
    run = run_selectors.run_find(run_id=run_id)
    if run is None:
        raise errors.NotFound("The chat completion's chat was deleted while the agent worked.")
    final = chat_selectors.final_answer(run=run)
    answer = final.content if final is not None else run.output if isinstance(run.output, str) else ""
    return Outcome(
        status=run.status,
        answer=answer,
        prompt=run.input_prompt,
        error=run.error,
        figures=run_selectors.run_stats(run_id=run.id),
    )


def completion(turn: Turn) -> dict[str, Any]:
    """Send the turn, wait for its end (or its question), and answer a ``chat.completion``."""
    # Listening before the turn is sent, the request receives every event of it, and answers
    # from them: the tables are read again only if one went missing.
    watch = TurnWatch(turn.chat_id)
    run, message = watch.send(turn.send, timeout=settings.UAI_TURN_WAIT_SECONDS, until=Run.TURN_ENDS)
    if watch.status is None:
        raise errors.NotFound("The chat completion's chat was deleted while the agent worked.")
    if watch.status not in Run.TURN_ENDS:
        raise errors.Timeout(f"The agent did not answer within {settings.UAI_TURN_WAIT_SECONDS:g} s.")
    ended = outcome_from_events(
        watch.events, run_id=str(run.id), after_seq=message.seq, status=watch.status
    ) or outcome_from_tables(run.id)
    if ended.status == Run.Status.FAILED:
        raise errors.AgentFailed(f"The agent failed: {ended.error or 'no reason given'}")
    if ended.status == Run.Status.CANCELLED:
        raise errors.Conflict("The turn was cancelled before the agent answered.")
    answer: dict[str, Any] = {
        "role": "assistant",
        "content": ended.answer,
        "refusal": None,
        "annotations": [],
    }
    finish = "stop"
    if ended.status == Run.Status.INPUT_REQUIRED:
        answer["content"] = None
        answer["tool_calls"] = [tool_call(run.id, turn.question, ended.prompt)]
        finish = "tool_calls"
    return {
        "id": f"chatcmpl-{run.id.hex}",
        "object": "chat.completion",
        "created": epoch(run.created_at),
        "model": turn.model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": answer, "logprobs": None, "finish_reason": finish}],
        "usage": usage(ended.figures),
    }


# --- A streamed answer ----------------------------------------------------------------------------


@dataclass
class Chunks:
    """Encodes a streamed answer's chunks."""

    head: dict[str, Any]
    include_usage: bool

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        more = {"usage": None} if self.include_usage else {}
        return sse.encode(None, {**self.head, "choices": [choice], **more})

    def usage(self, stats: dict[str, Any]) -> bytes:
        return sse.encode(None, {**self.head, "choices": [], "usage": usage(stats)})


def error_chunk(error: errors.UAIError) -> bytes:
    """The chunk that ends a stream that cannot go on: OpenAI's clients raise its error."""
    return sse.encode(None, {"error": error_object(error)})


async def completion_chunks(
    *, chunks: Chunks, chat_id: str, run_id: str, after_seq: int, question: int
) -> AsyncIterator[bytes]:
    """The turn's chunks from the events after ``after_seq`` (its message) until it ends, the
    role first.

    The role goes out with the first chunk, not before the stream is followed: followed first,
    the stream hears the turn's first events live; sent first (a trip through the server's
    write), those events came before the subscription, were missed, and were read back from the
    table once a later one showed the gap (the first delta ~2 ms later than the native stream's).
    """
    role = chunks.delta({"role": "assistant", "content": ""})
    answer = _answer_chunks(
        chunks=chunks, chat_id=chat_id, run_id=run_id, after_seq=after_seq, question=question
    )
    async with contextlib.aclosing(answer):  # closed with this stream (the client left), not later
        async for chunk in answer:
            if role:
                yield role
                role = b""
            yield chunk


async def _answer_chunks(
    *, chunks: Chunks, chat_id: str, run_id: str, after_seq: int, question: int
) -> AsyncGenerator[bytes]:
    streamed: list[str] = []
    round_start = 0  # where the last round of streamed text starts (answer_text)
    final: str | None = None
    prompt = ""
    stats: dict[str, Any] = {}
    try:
        async for event in streams.follow(
            chat_id=chat_id,
            after_seq=after_seq,
            fresh=True,
            idle_seconds=settings.UAI_STREAM_KEEPALIVE_SECONDS,
        ):
            if event is None:
                yield sse.KEEPALIVE
                continue
            if event.get("run_id") != run_id:
                continue
            if event["type"] == EventType.DELTA and event["data"]["text"]:
                streamed.append(event["data"]["text"])
                yield chunks.delta({"content": event["data"]["text"]})
            elif event["type"] == EventType.STEP and event["data"]["step_type"] == ev.FINAL_ANSWER_STEP:
                final = event["data"]["content"]
            elif event["type"] == EventType.STEP:
                round_start = len(streamed)  # the text after a step (a tool call) is a new round
                thought = event["data"]["content"]
                yield chunks.delta({"reasoning_content": thought, "reasoning": thought})
            elif event["type"] == EventType.INPUT_REQUIRED:
                prompt = event["data"]["prompt"]
            elif event["type"] == EventType.STATS:
                stats.update(event["data"].get("data") or {})
            elif event["type"] == EventType.STATUS and event["data"]["status"] in Run.TURN_ENDS:
                status = event["data"]["status"]
                if status == Run.Status.FAILED:
                    error = event["data"].get("error") or "no reason given"
                    yield error_chunk(errors.AgentFailed(f"The agent failed: {error}"))
                elif status == Run.Status.CANCELLED:
                    yield error_chunk(errors.Conflict("The turn was cancelled before the agent answered."))
                elif status == Run.Status.INPUT_REQUIRED:
                    prompt = prompt or event["data"].get("input_prompt") or ""
                    yield chunks.delta({"tool_calls": [{"index": 0, **tool_call(run_id, question, prompt)}]})
                    yield chunks.delta({}, "tool_calls")
                else:
                    rest = answer_text.unsaid(final or "", streamed, round_start)
                    if rest:
                        yield chunks.delta({"content": rest})
                    yield chunks.delta({}, "stop")
                if chunks.include_usage and status in (Run.Status.SUCCEEDED, Run.Status.INPUT_REQUIRED):
                    yield chunks.usage(stats)
                yield DONE
                return
    except streams.StreamOverflow as exc:
        yield error_chunk(exc)
    except streams.ChatGone:
        yield error_chunk(errors.Gone("The chat completion's chat was deleted."))
    except DatabaseError as error:
        if outage(error) is None:
            raise  # a bug, not an outage: logged with its traceback where the server logs them
        logger.warning("a chat completion's database went away; ending its stream with an error chunk")
        yield error_chunk(errors.Unavailable("The database is unreachable for a moment; try again shortly."))
    yield DONE


# --- The view -------------------------------------------------------------------------------------

CompletionIn = inline_serializer(
    "OpenAIChatCompletionRequest",
    fields={
        "model": serializers.CharField(help_text="The agent's name."),
        "messages": serializers.ListField(
            child=serializers.DictField(), help_text="{role, content}: the last one is the turn."
        ),
        "stream": serializers.BooleanField(required=False, allow_null=True),
        "stream_options": serializers.DictField(required=False, allow_null=True),
        "n": serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1),
        "metadata": serializers.DictField(child=serializers.CharField(), required=False, allow_null=True),
    },
)
CompletionOut = inline_serializer(
    "OpenAIChatCompletion",
    fields={
        "id": serializers.CharField(),
        "object": serializers.ChoiceField(choices=["chat.completion"]),
        "created": serializers.IntegerField(),
        "model": serializers.CharField(),
        "choices": serializers.ListField(child=serializers.DictField()),
        "usage": serializers.DictField(child=serializers.IntegerField()),
    },
)


CHUNK_SSE = {
    "description": "With `stream: true`: `data:` lines only (no `id:`, no `event:`), each a "
    "`chat.completion.chunk`, or an `{error}` object when the turn cannot go on; `[DONE]` last.",
    "type": "object",
    "required": ["data"],
    "properties": {"event": {"const": "message"}, "data": {"type": "string"}},
}


def _error(text: str) -> OpenApiResponse:
    return OpenApiResponse(OpenAIError, description=text)


class ChatCompletionsView(OpenAIView):
    @extend_schema(
        request=CompletionIn,
        responses={
            (200, "application/json"): CompletionOut,
            (200, "text/event-stream"): CHUNK_SSE,
            400: _error("A parameter is missing or malformed (`param` names it)."),
            401: _error("No valid API key (a UAI token or JWT)."),
            404: _error("`model_not_found`: no such agent, or it is disabled."),
            409: _error("The turn was cancelled before the agent answered."),
            413: _error("The body, or a file in it, is larger than the limits allow."),
            415: _error("The body is not JSON."),
            429: _error("Over UAI_OPENAI_RATE."),
            502: _error("`agent_failed`: the agent failed."),
            503: _error("The database or Redis cannot be reached at the moment."),
            504: _error("The agent did not answer within UAI_TURN_WAIT_SECONDS."),
        },
        tags=["openai"],
        operation_id="openai_chat_completions_create",
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        """One turn of the agent ``model`` names: a new chat, or the answer to its question."""
        ask = parse_request(request.data)
        agent = model_agent(ask.model)
        if ask.answers is not None:
            turn = answer_turn(user=request.user, ask=ask)
        else:
            turn = start_turn(user=request.user, agent=agent, ask=ask)
        if not ask.stream:
            return Response(completion(turn))
        run, message = turn.send()
        head = {
            "id": f"chatcmpl-{run.id.hex}",
            "object": "chat.completion.chunk",
            "created": epoch(run.created_at),
            "model": turn.model,
            "system_fingerprint": None,
        }
        release_connection()  # the stream must not hold this request's connection
        return sse.response(
            completion_chunks(
                chunks=Chunks(head=head, include_usage=ask.include_usage),
                chat_id=turn.chat_id,
                run_id=str(run.id),
                after_seq=message.seq,
                question=turn.question,
            )
        )


urlpatterns = [
    re_path(r"^chat/completions/?$", ChatCompletionsView.as_view(), name="openai-chat-completions"),
]
