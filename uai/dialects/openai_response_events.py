"""A UAI turn's events as an OpenAI response: its stream events and its snapshot, one translator.

A response is one *segment* of a turn run R: segment 0 runs from R's first event to its first
question (``input_required``) or its end; segment k (k ≥ 1) from R's k-th ``input`` event (the
answer to its k-th question) to the next question or the end. Its id is ``resp_{R.hex}`` or
``resp_{R.hex}_{k}``.

``ResponseEvents`` is fed R's stored or live events in order and emits OpenAI's stream events
(numbered from 0 per response), keeping the response object as it goes. It does no I/O and
is deterministic: the same events give the same stream events, numbers and ids. So a stream
resumed after event N is the replay of R's events with what came up to N left out, and
``GET /v1/responses/{id}`` is the snapshot after the replay: it is always what a stream showed.

A segment's lifecycle::

    response.created  →  response.in_progress  →  output items (reasoning, message, function_call)
    →  response.completed | response.failed | response.incomplete (cancelled)   — nothing after
"""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from uai.agents import events as ev
from uai.dialects.openai_common import token_counts
from uai.runs.stream_events import ArtifactData, EventType, StatusData, StreamEvent

QUESTION_FUNCTION = "uai_input"  # the function_call an agent's question is shown as

# A run's status → the response's when it ends, and the event that says so.
ENDINGS = {
    "succeeded": ("completed", "response.completed"),
    "failed": ("failed", "response.failed"),
    "cancelled": ("cancelled", "response.incomplete"),
}


def response_id(run_id: uuid.UUID, segment: int) -> str:
    """The id of a run's response ``segment``."""
    return f"resp_{run_id.hex}" if segment == 0 else f"resp_{run_id.hex}_{segment}"


def parse_response_id(raw: str) -> tuple[uuid.UUID, int] | None:
    """(run id, segment) of a response id; None when it is not one."""
    if not raw.startswith("resp_"):
        return None
    hex_part, separator, number = raw[len("resp_") :].partition("_")
    if len(hex_part) != 32 or (separator and not number):
        return None
    try:
        run_id = uuid.UUID(hex=hex_part)
    except ValueError:
        return None
    if not number:
        return run_id, 0
    if not number.isascii() or not number.isdigit() or number.startswith("0") or len(number) > 9:
        return None
    return run_id, int(number)


def call_id(run_id: uuid.UUID | str, question: int) -> str:
    """The ``call_id`` of a run's ``question``-th question (1, 2, …)."""
    return f"call_{_hex(run_id)}_{question}"


def _hex(value: uuid.UUID | str) -> str:
    return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).hex


def _epoch(iso: str | None) -> int | None:
    if not iso:
        return None
    return int(datetime.datetime.fromisoformat(iso).timestamp())


@dataclass(frozen=True)
class ResponseHead:
    """What a response echoes, known before any of its events: the request's fields (stored in
    ``Run.request`` at create) and where download URLs point."""

    run_id: uuid.UUID
    segment: int
    model: str
    created_at: int
    background: bool = False
    instructions: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    previous_response_id: str | None = None
    conversation: str | None = None
    base_url: str = ""

    @property
    def id(self) -> str:
        return response_id(self.run_id, self.segment)


class ResponseEvents:
    """Feeds on one run's events (``feed``), emits its response's stream events, keeps its snapshot."""

    def __init__(self, head: ResponseHead) -> None:
        self.head = head
        self.started = False  # response.created was emitted
        self.done = False  # the terminal event was emitted: nothing more
        self.created_at = head.created_at
        self.status = "queued"
        self.error: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None
        self.output: list[dict[str, Any]] = []
        self._number = 0  # the next sequence_number
        self._inputs = 0  # answers (``input`` events) seen so far
        self._running = False
        self._open: int | None = None  # the output index of the message item being streamed
        self._answer: int | None = None  # the output index of the answer's message item
        self._artifacts: list[ArtifactData] = []
        self._stats: dict[str, Any] = {}

    @property
    def next_number(self) -> int:
        """The sequence number the next event gets (an ``error`` event that ends a stream)."""
        return self._number

    # --- feeding ----------------------------------------------------------------------------------

    def feed(self, event: StreamEvent) -> list[dict[str, Any]]:
        """The stream events one of the run's events makes (none before or after the segment)."""
        if self.done:
            return []
        out: list[dict[str, Any]] = []
        if not self.started and not self._starts(event, out):
            return out
        if event["type"] == EventType.STATUS:
            self._on_status(event["data"], out)
        elif event["type"] == EventType.STEP:
            step = event["data"]
            if step["step_type"] == ev.FINAL_ANSWER_STEP:
                self._on_answer(step["content"], event["seq"], out)
            else:
                message = step.get("message")
                item_id = (
                    f"rs_{_hex(message['id'])}" if message else f"rs_{self.head.run_id.hex}_{event['seq']}"
                )
                self._on_step(item_id, step["content"], out)
        elif event["type"] == EventType.DELTA:
            if event["data"]["text"]:
                self._on_delta(event["data"]["text"], event["seq"], out)
        elif event["type"] == EventType.ARTIFACT:
            self._on_artifact(event["data"])
        elif event["type"] == EventType.STATS:
            self._stats.update(event["data"].get("data") or {})
        elif event["type"] == EventType.INPUT_REQUIRED:
            self._on_question(event["data"]["prompt"], out)
        return out

    def _starts(self, event: StreamEvent, out: list[dict[str, Any]]) -> bool:
        """Whether ``event`` is in the segment (the first one emits ``response.created``)."""
        if self.head.segment == 0:
            # The run's first event: its status ``queued`` (or, when retention removed it, any).
            queued = event["type"] == EventType.STATUS and event["data"]["status"] == "queued"
            self.status = "queued" if queued else "in_progress"
            self._emit_lifecycle("response.created", out)
            return True
        if event["type"] != EventType.INPUT:
            return False
        self._inputs += 1
        if self._inputs < self.head.segment:
            return False
        self.created_at = _epoch(event.get("created_at")) or self.created_at
        self.status = "in_progress"
        self._emit_lifecycle("response.created", out)
        self._emit_lifecycle("response.in_progress", out)
        self.started = True
        return False  # the answer itself is input, not output

    def _on_status(self, data: StatusData, out: list[dict[str, Any]]) -> None:
        status = data["status"]
        if status == "running" and self.head.segment == 0 and not self._running:
            self._running = True
            self.status = "in_progress"
            self._emit_lifecycle("response.in_progress", out)
        elif status == "input_required":
            # (its question event came first and ended the response, unless that one was lost)
            self._on_question(data.get("input_prompt") or "", out)
        elif status in ENDINGS:
            self._close_message("completed" if status == "succeeded" else "incomplete", out)
            if status == "failed":
                self.error = {"code": "server_error", "message": data.get("error") or "The agent failed."}
            self._finish(*ENDINGS[status], out)

    def _on_step(self, item_id: str, content: str, out: list[dict[str, Any]]) -> None:
        """A step of the agent's work (not its answer): a ``reasoning`` item, whole."""
        self._close_message("completed", out)
        index = len(self.output)
        item: dict[str, Any] = {"type": "reasoning", "id": item_id, "summary": [], "status": "in_progress"}
        self.output.append(item)
        where = {"item_id": item_id, "output_index": index, "summary_index": 0}
        self._emit("response.output_item.added", out, output_index=index, item=copy.deepcopy(item))
        self._emit("response.reasoning_summary_part.added", out, **where, part=_summary(""))
        self._emit("response.reasoning_summary_text.delta", out, **where, delta=content)
        self._emit("response.reasoning_summary_text.done", out, **where, text=content)
        self._emit("response.reasoning_summary_part.done", out, **where, part=_summary(content))
        item.update(summary=[_summary(content)], status="completed")
        self._emit("response.output_item.done", out, output_index=index, item=copy.deepcopy(item))

    def _on_delta(self, text: str, seq: int, out: list[dict[str, Any]]) -> None:
        index = self._open if self._open is not None else self._open_message(seq, out)
        part = self.output[index]["content"][0]
        part["text"] += text
        self._emit(
            "response.output_text.delta",
            out,
            item_id=self.output[index]["id"],
            output_index=index,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _on_answer(self, text: str, seq: int, out: list[dict[str, Any]]) -> None:
        """The agent's answer: the rest of the streamed message (or all of it), then its end.

        An open message that does not lead up to the answer streamed the last round of a
        model's text (the answer is only that round's: see ``reply_chunks``), or text the
        answer restates: its final text is the answer, with no delta more.
        """
        if self._open is None:
            self._open_message(seq, out)
            if text:
                self._on_delta(text, seq, out)
        else:
            streamed = self.output[self._open]["content"][0]["text"]
            if text.startswith(streamed):
                if text[len(streamed) :]:
                    self._on_delta(text[len(streamed) :], seq, out)
            else:
                self.output[self._open]["content"][0]["text"] = text
        index = self._open
        self._close_message("completed", out, annotate=True)
        self._answer = index

    def _on_artifact(self, artifact: ArtifactData) -> None:
        """A file the agent made: a link on the answer's text (added to it when it came already)."""
        self._artifacts.append(artifact)
        if self._answer is not None:
            part = self.output[self._answer]["content"][0]
            part["annotations"].append(self._annotation(artifact, len(part["text"])))

    def _on_question(self, prompt: str, out: list[dict[str, Any]]) -> None:
        """The agent asks: a ``uai_input`` function call ends the response (answered by a new one)."""
        self._close_message("completed", out)
        question = self.head.segment + 1
        run_hex = self.head.run_id.hex
        arguments = json.dumps({"prompt": prompt})
        index = len(self.output)
        item: dict[str, Any] = {
            "type": "function_call",
            "id": f"fc_{run_hex}_{question}",
            "call_id": call_id(self.head.run_id, question),
            "name": QUESTION_FUNCTION,
            "arguments": "",
            "status": "in_progress",
        }
        self.output.append(item)
        self._emit("response.output_item.added", out, output_index=index, item=copy.deepcopy(item))
        where = {"item_id": item["id"], "output_index": index}
        self._emit("response.function_call_arguments.delta", out, **where, delta=arguments)
        self._emit(
            "response.function_call_arguments.done", out, **where, arguments=arguments, name=QUESTION_FUNCTION
        )
        item.update(arguments=arguments, status="completed")
        self._emit("response.output_item.done", out, output_index=index, item=copy.deepcopy(item))
        self._finish("completed", "response.completed", out)

    # --- items ------------------------------------------------------------------------------------

    def _open_message(self, seq: int, out: list[dict[str, Any]]) -> int:
        index = len(self.output)
        item: dict[str, Any] = {
            "type": "message",
            "id": f"msg_{self.head.run_id.hex}_{seq}",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        self.output.append(item)
        self._open = index
        self._emit("response.output_item.added", out, output_index=index, item=copy.deepcopy(item))
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        item["content"].append(part)
        self._emit(
            "response.content_part.added",
            out,
            item_id=item["id"],
            output_index=index,
            content_index=0,
            part=copy.deepcopy(part),
        )
        return index

    def _close_message(self, status: str, out: list[dict[str, Any]], *, annotate: bool = False) -> None:
        """End the open message item, if any (``annotate``: it is the answer, the run's files go on it)."""
        index = self._open
        if index is None:
            return
        self._open = None
        item = self.output[index]
        part = item["content"][0]
        if annotate:
            part["annotations"] = [self._annotation(a, len(part["text"])) for a in self._artifacts]
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        self._emit("response.output_text.done", out, **where, text=part["text"], logprobs=[])
        self._emit("response.content_part.done", out, **where, part=copy.deepcopy(part))
        item["status"] = status
        self._emit("response.output_item.done", out, output_index=index, item=copy.deepcopy(item))

    def _annotation(self, artifact: ArtifactData, at: int) -> dict[str, Any]:
        url = artifact["download_url"]
        if url.startswith("/"):
            url = self.head.base_url + url
        return {
            "type": "url_citation",
            "url": url,
            "title": artifact["name"],
            "start_index": at,
            "end_index": at,
        }

    # --- emitting ---------------------------------------------------------------------------------

    def _emit(self, kind: str, out: list[dict[str, Any]], **fields: Any) -> None:
        out.append({"type": kind, "sequence_number": self._number, **fields})
        self._number += 1

    def _emit_lifecycle(self, kind: str, out: list[dict[str, Any]]) -> None:
        self.started = True
        self._emit(kind, out, response=self.snapshot())

    def _finish(self, status: str, kind: str, out: list[dict[str, Any]]) -> None:
        self.status = status
        given, made, total = token_counts(self._stats)
        self.usage = {
            "input_tokens": given,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": made,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": total,
        }
        self._emit_lifecycle(kind, out)
        self.done = True

    def settle(self, status: str, error: str | None, answer: tuple[str, str] | None = None) -> None:
        """A response whose events are no longer kept (retention): its status from its run's, and
        ``answer`` (its message's item id and text), the agent's answer kept in the chat."""
        if self.started:
            return
        self.started = True
        if answer is not None:
            item_id, text = answer
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            self.output.append(
                {
                    "type": "message",
                    "id": item_id,
                    "role": "assistant",
                    "status": "completed",
                    "content": [part],
                }
            )
        if status in ENDINGS:
            self.status = ENDINGS[status][0]
            if status == "failed":
                self.error = {"code": "server_error", "message": error or "The agent failed."}
        else:
            self.status = "queued" if status == "queued" else "in_progress"

    def snapshot(self) -> dict[str, Any]:
        """The response object as it stands."""
        head = self.head
        return {
            "id": head.id,
            "object": "response",
            "created_at": self.created_at,
            "status": self.status,
            "background": head.background,
            "error": copy.deepcopy(self.error),
            "incomplete_details": None,
            "instructions": head.instructions,
            "metadata": dict(head.metadata),
            "model": head.model,
            "output": copy.deepcopy(self.output),
            "parallel_tool_calls": False,
            "previous_response_id": head.previous_response_id,
            "conversation": {"id": head.conversation} if head.conversation else None,
            "temperature": None,
            "top_p": None,
            "tool_choice": "auto",
            "tools": [],
            "text": {"format": {"type": "text"}},
            "truncation": "disabled",
            "usage": copy.deepcopy(self.usage),
            "user": None,
            "store": True,
        }


def _summary(text: str) -> dict[str, str]:
    return {"type": "summary_text", "text": text}
