"""AG-UI's ``RunAgentInput``, read and checked: what one run of ``POST /ag-ui/{agent}`` sends
(``agui`` says what each part does)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile

from uai.chats import services as chat_services
from uai.dialects import ui_events
from uai_project import errors

ROLES = {"user": "user", "assistant": "agent", "system": "system", "developer": "system"}
MEDIA_PARTS = {"image", "audio", "video", "document"}
MAX_RUN_ID_CHARS = 200  # a run id is kept as its answer's client message id (200 characters)


@dataclass
class Asked:
    """A ``RunAgentInput``, checked: the thread, the AG-UI run, and what it sends."""

    thread_id: str
    run_id: str
    text: str = ""
    files: list[UploadedFile] = field(default_factory=list)
    before: list[tuple[str, str]] = field(default_factory=list)
    interrupt: str | None = None  # the interrupt a ``resume`` entry answers
    cancel: bool = False  # … by cancelling it
    tool_call: str | None = None  # the front-end tool call a ``tool`` message answers
    state: dict[str, Any] | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    cancel_on_disconnect: bool = False

    @property
    def answers(self) -> bool:
        return self.interrupt is not None or self.tool_call is not None

    def echo(self) -> dict[str, Any]:
        """What the turn's run keeps of the request (``Run.request``)."""
        return {"dialect": "ag-ui", "tools": self.tools}


def bad(detail: str) -> errors.InvalidInput:
    """A 400 that says what is wrong with the request."""
    return errors.InvalidInput(detail)


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise bad(f"'{name}' must be a string.")
    return value


def parse_run_input(body: Any) -> Asked:
    """A ``RunAgentInput`` body, checked (400 naming the field at fault)."""
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object (AG-UI's RunAgentInput).")
    thread_id = chat_services.validate_chat_id(_string(body, "threadId", required=True) or "")
    run_id = _string(body, "runId", required=True) or ""
    if len(run_id) > MAX_RUN_ID_CHARS:
        raise bad(f"'runId' is at most {MAX_RUN_ID_CHARS} characters.")
    _string(body, "parentRunId")
    asked = Asked(thread_id=thread_id, run_id=run_id)
    state = body.get("state")
    if state is not None and not isinstance(state, dict):
        raise bad("'state' must be an object.")
    asked.state = state or None
    asked.tools = ui_events.offered_tools(body.get("tools"))
    if body.get("context") is not None and not isinstance(body["context"], list):
        raise bad("'context' must be an array.")
    asked.cancel_on_disconnect = _cancel_on_disconnect(body.get("forwardedProps"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise bad("'messages' must be an array of messages.")
    resume = body.get("resume")
    if resume:
        _resume(asked, resume)
    else:
        _messages(asked, messages)
    return asked


def _cancel_on_disconnect(props: Any) -> bool:
    uai = props.get("uai") if isinstance(props, dict) else None
    return isinstance(uai, dict) and uai.get("cancelOnDisconnect") is True


def _resume(asked: Asked, entries: Any) -> None:
    """``resume[]``: the answer to the interrupt that ended the thread's previous run."""
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        raise bad("'resume' answers the one interrupt the previous run ended with: one entry.")
    entry = entries[0]
    interrupt, status = entry.get("interruptId"), entry.get("status")
    if not isinstance(interrupt, str) or status not in ("resolved", "cancelled"):
        raise bad("A 'resume' entry has an 'interruptId' and a 'status' (resolved or cancelled).")
    asked.interrupt = interrupt
    asked.cancel = status == "cancelled"
    payload = entry.get("payload")
    asked.text = payload if isinstance(payload, str) else "" if payload is None else json.dumps(payload)


def _messages(asked: Asked, messages: list[dict[str, Any]]) -> None:
    """The turn in ``messages``: the last one, the user's (or a tool's result)."""
    if not messages:
        raise bad("'messages' has no message: the last one is the turn.")
    last = messages[-1]
    where = f"messages[{len(messages) - 1}]"
    if last.get("role") == "tool":
        call = last.get("toolCallId")
        if not isinstance(call, str) or not call:
            raise bad(f"'{where}.toolCallId' must be a string.")
        asked.tool_call = call
        asked.text, _ = _content(last.get("content"), f"{where}.content", files=False)
        return
    if last.get("role") != "user":
        raise bad("The last message is the turn: the user's, or a tool's result.")
    asked.text, asked.files = _content(last.get("content"), f"{where}.content", files=True)
    for index, message in enumerate(messages[:-1]):
        role = ROLES.get(str(message.get("role")))
        if role is None:
            continue  # tool results, activities, reasoning: the agent has them from its own run
        said, _ = _content(message.get("content"), f"messages[{index}].content", files=False)
        if said.strip():
            asked.before.append((role, said))


def _content(content: Any, where: str, *, files: bool) -> tuple[str, list[UploadedFile]]:
    """A message's text, and (``files``: the turn's) its media parts as uploads."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise bad(f"'{where}' must be a string or an array of parts.")
    texts: list[str] = []
    uploads: list[UploadedFile] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in MEDIA_PARTS:
            if files:
                uploads.append(_upload(part, f"{where}[{index}]", len(uploads) + 1))
        else:
            raise bad(f"'{where}[{index}]' is not a text, image, audio, video or document part.")
    return "\n".join(texts), uploads


def _upload(part: dict[str, Any], where: str, number: int) -> UploadedFile:
    source = part.get("source")
    if (
        not isinstance(source, dict)
        or source.get("type") != "data"
        or not isinstance(source.get("value"), str)
    ):
        raise bad(f"'{where}.source': UAI fetches nothing; send the file inline (a 'data' source, base64).")
    media = source.get("mimeType")
    media = media if isinstance(media, str) and media else "application/octet-stream"
    try:
        content = base64.b64decode(source["value"], validate=True)
    except (binascii.Error, ValueError):
        raise bad(f"'{where}.source.value' is not valid base64.") from None
    metadata = part.get("metadata")
    name = metadata.get("filename") if isinstance(metadata, dict) else None
    name = name if isinstance(name, str) and name else f"{part['type']}-{number}"
    return SimpleUploadedFile(name, content, content_type=media)
