"""A UAI run's events as A2A 1.0 ``StreamResponse``\\ s, a run as an A2A ``Task`` (pure).

A task is a UAI run, its context the run's chat. What the run's numbered events say, in A2A's
words (ProtoJSON: camelCase names, enums by name)::

    status queued / running            →  statusUpdate SUBMITTED / WORKING
    a step (not the answer)            →  statusUpdate WORKING, its message one text part with
                                          metadata {"uai": {"type": step type, "seq": N}}
    text deltas                        →  artifactUpdate of the answer artifact ("answer"; after a
                                          question: "answer-2", …), append after the first
    the final answer                   →  what its deltas did not say, lastChunk true (all of it,
                                          append false, when it does not continue them)
    an artifact the agent made         →  artifactUpdate: a file part whose url is UAI's download
    a question                         →  statusUpdate INPUT_REQUIRED, the prompt as its message
    succeeded / failed / cancelled     →  statusUpdate COMPLETED / FAILED (the error) / CANCELED

Every response carries ``metadata: {"uai": {"seq": N}}``, N the number of the UAI event it came
from: a client resumes a stream after N (``SubscribeToTask``). When one event says two responses,
the first also carries ``"cursor": "N.0"``: resumed after that, the second comes next. ``A2AEvents`` does no I/O and is
deterministic: fed the same events it says the same, so a resumed stream is the replay with what
came from events up to N left out. Nothing follows a terminal status.

``PushFormat`` is the same translation as push notification bodies (``uai.webhooks``).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from uai.agents import events as ev
from uai.dialects.answer_text import unsaid
from uai.runs.stream_events import EventType, StreamEvent

SUBMITTED = "TASK_STATE_SUBMITTED"
WORKING = "TASK_STATE_WORKING"
COMPLETED = "TASK_STATE_COMPLETED"
FAILED = "TASK_STATE_FAILED"
CANCELED = "TASK_STATE_CANCELED"
INPUT_REQUIRED = "TASK_STATE_INPUT_REQUIRED"
REJECTED = "TASK_STATE_REJECTED"

# A run's status → its task's state, and back (ListTasks' status filter).
STATES = {
    "queued": SUBMITTED,
    "running": WORKING,
    "input_required": INPUT_REQUIRED,
    "succeeded": COMPLETED,
    "failed": FAILED,
    "cancelled": CANCELED,
}
STATUSES = {state: status for status, state in STATES.items()}
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED, REJECTED})
STOPS = TERMINAL | {INPUT_REQUIRED}  # where a stream of a task ends: the client acts next
ANSWER = "answer"
AGENT = "ROLE_AGENT"
USER = "ROLE_USER"


def uai_meta(seq: int, **more: Any) -> dict[str, Any]:
    """The ``metadata`` every A2A object UAI sends carries: its UAI event number."""
    return {"uai": {"seq": seq, **more}}


def seq_of(response: dict[str, Any]) -> int:
    """The UAI event number of a ``StreamResponse`` (its one member's metadata)."""
    body = next(iter(response.values()))
    return int(body["metadata"]["uai"]["seq"])


# Where a client stands in a task's stream: after every response of event N ("N": (N, None)), or
# after the response i (from 0) of event N ("N.i": (N, i)) — one event may say two responses (the
# answer's last chunk and the end, or the question), and a client that dropped between them
# resumes at the second, not after both.
Cursor = tuple[int, int | None]


def cursor_text(cursor: Cursor) -> str:
    return str(cursor[0]) if cursor[1] is None else f"{cursor[0]}.{cursor[1]}"


def parse_cursor(raw: object) -> Cursor | None:
    """A cursor a client sends ("N", "N.i", or the number N); None when it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return None
    text = str(raw).strip()
    head, dot, tail = text.partition(".")
    if not head.isdigit() or len(head) > 18 or (dot and (not tail.isdigit() or len(tail) > 6)):
        return None
    return int(head), int(tail) if dot else None


def cursor_of(response: dict[str, Any]) -> str:
    """The cursor after a ``StreamResponse``: ``metadata.uai.cursor`` when its event says more
    after it, else its event number (what its SSE ``id`` is, and what a client resumes after)."""
    uai = next(iter(response.values()))["metadata"]["uai"]
    return str(uai.get("cursor", uai["seq"]))


def is_after(seq: int, index: int, cursor: Cursor) -> bool:
    """Whether the response ``index`` of event ``seq`` comes after ``cursor``."""
    return seq > cursor[0] or (seq == cursor[0] and cursor[1] is not None and index > cursor[1])


def text_message(
    text: str, *, role: str, message_id: str, task_id: str, context_id: str, meta: dict[str, Any] | None
) -> dict[str, Any]:
    """A message of one text part."""
    message: dict[str, Any] = {
        "messageId": message_id,
        "contextId": context_id,
        "taskId": task_id,
        "role": role,
        "parts": [{"text": text}],
    }
    if meta is not None:
        message["metadata"] = meta
    return message


def file_part(artifact: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A file UAI stores, as a part: its download URL (absolute)."""
    url = str(artifact["download_url"])
    return {
        "url": base_url + url if url.startswith("/") else url,
        "mediaType": artifact.get("media_type") or "application/octet-stream",
        "filename": artifact.get("name") or "",
    }


class A2AEvents:
    """Feeds on one run's events (``feed``), in order, from its first; says its ``StreamResponse``\\ s.

    Also keeps what a snapshot of the task needs: its artifacts as they stand, its last state.
    """

    def __init__(
        self, task_id: uuid.UUID | str, context_id: str | None = None, *, base_url: str = ""
    ) -> None:
        self.task_id = str(task_id)
        self.context_id = context_id or ""
        self.base_url = base_url
        self.state: str | None = None
        self.state_seq = 0  # the event that set ``state``
        self.last_status: dict[str, Any] | None = None
        self.done = False
        self.outputs: dict[str, dict[str, Any]] = {}  # artifactId → the artifact as it stands
        self._answer: str | None = None  # the answer artifact being streamed
        self._rounds = 0  # answer artifacts begun (a question ends one)
        self._streamed: list[str] = []  # the deltas of the answer artifact being streamed
        self._round_start = 0  # the index in _streamed of the current round's first delta
        self._new_round = False  # a step came: the next delta starts a round (answer_text)

    def stopped_after(self, after: int) -> bool:
        """Whether the task reached a state where its stream ends (terminal, or waiting for the
        client) at an event after ``after``. Once the task has ended it has, whatever the cursor:
        a cursor read after the run ended may be its final event's number, and nothing follows."""
        return self.done or (self.state in STOPS and self.state_seq > after)

    def feed(self, event: StreamEvent) -> list[dict[str, Any]]:
        """The responses one of the run's events says (none after a terminal status)."""
        if self.done:
            return []
        chat = event.get("chat_id")
        if not self.context_id and isinstance(chat, str):
            self.context_id = chat
        seq = event["seq"]
        out: list[dict[str, Any]] = []
        if event["type"] == EventType.DELTA:
            if event["data"]["text"]:
                self._delta(seq, event["data"]["text"], out, last=False)
        elif event["type"] == EventType.STEP:
            step = event["data"]
            if step["step_type"] == ev.FINAL_ANSWER_STEP:
                self._final(seq, step["content"], out)
            else:
                self._new_round = True  # the text after a step (a tool call) is a new round
                meta = uai_meta(seq, type=step["step_type"])
                out.append(self._status(seq, WORKING, self._agent_text(seq, step["content"], meta)))
        elif event["type"] == EventType.ARTIFACT:
            if event["data"]["origin"] != "user":  # (a user's upload is input, not output)
                data: dict[str, Any] = dict(event["data"])
                artifact: dict[str, Any] = {
                    "artifactId": str(data["id"]),
                    "name": str(data["name"]),
                    "parts": [file_part(data, self.base_url)],
                    "metadata": uai_meta(seq),
                }
                self.outputs[artifact["artifactId"]] = artifact
                out.append(self._artifact(seq, artifact, append=False, last=True))
        elif event["type"] == EventType.INPUT_REQUIRED:
            self._close(seq, out)
            prompt = event["data"]["prompt"]
            out.append(self._status(seq, INPUT_REQUIRED, self._agent_text(seq, prompt, uai_meta(seq))))
        elif event["type"] == EventType.STATUS:
            status = event["data"]
            state = STATES.get(status["status"])
            if state is None:
                return out
            if state == INPUT_REQUIRED and self.state == INPUT_REQUIRED:
                # (its question said it already) The wait is stored here, after the question: a
                # client resuming from the question's number waits at this event, and its stream
                # must stop here too, not follow the task until someone answers.
                self.state_seq = seq
                return out
            if state in TERMINAL:
                self._close(seq, out)
            message = None
            if state == INPUT_REQUIRED:
                message = self._agent_text(seq, status["input_prompt"] or "", uai_meta(seq))
            elif state == FAILED and status["error"]:
                message = self._agent_text(seq, status["error"], uai_meta(seq))
            out.append(self._status(seq, state, message))
            self.done = state in TERMINAL
        for index, response in enumerate(out[:-1]):  # (the last one's cursor is its event's number)
            next(iter(response.values()))["metadata"]["uai"]["cursor"] = f"{seq}.{index}"
        return out

    # --- the parts of the story -------------------------------------------------------------------

    def _agent_text(self, seq: int, text: str, meta: dict[str, Any]) -> dict[str, Any]:
        message = text_message(
            text,
            role=AGENT,
            message_id=f"{self.task_id}-{seq}",
            task_id=self.task_id,
            context_id=self.context_id,
            meta=None,
        )
        message["parts"][0]["metadata"] = meta
        message["metadata"] = uai_meta(seq)
        return message

    def _status(self, seq: int, state: str, message: dict[str, Any] | None) -> dict[str, Any]:
        self.state = state
        self.state_seq = seq
        status: dict[str, Any] = {"state": state}
        if message is not None:
            status["message"] = message
        self.last_status = status
        return {
            "statusUpdate": {
                "taskId": self.task_id,
                "contextId": self.context_id,
                "status": status,
                "metadata": uai_meta(seq),
            }
        }

    def _artifact(self, seq: int, artifact: dict[str, Any], *, append: bool, last: bool) -> dict[str, Any]:
        return {
            "artifactUpdate": {
                "taskId": self.task_id,
                "contextId": self.context_id,
                "artifact": artifact,
                "append": append,
                "lastChunk": last,
                "metadata": uai_meta(seq),
            }
        }

    def _delta(
        self, seq: int, text: str, out: list[dict[str, Any]], *, last: bool, replace: bool = False
    ) -> None:
        append = self._answer is not None and not replace
        if self._answer is None:
            self._rounds += 1
            self._answer = ANSWER if self._rounds == 1 else f"{ANSWER}-{self._rounds}"
        whole = self.outputs.setdefault(
            self._answer, {"artifactId": self._answer, "name": ANSWER, "parts": [{"text": ""}]}
        )
        whole["parts"][0]["text"] = whole["parts"][0]["text"] + text if append else text
        if not append:
            self._streamed, self._round_start, self._new_round = [], 0, False
        elif self._new_round:
            self._round_start, self._new_round = len(self._streamed), False
        self._streamed.append(text)
        whole["metadata"] = uai_meta(seq)
        chunk = {
            "artifactId": self._answer,
            "name": ANSWER,
            "parts": [{"text": text}],
            "metadata": uai_meta(seq),
        }
        out.append(self._artifact(seq, chunk, append=append, last=last))
        if last:
            self._answer = None

    def _close(self, seq: int, out: list[dict[str, Any]]) -> None:
        """The streamed answer so far ends here (a question or the end comes)."""
        if self._answer is not None:
            chunk = {
                "artifactId": self._answer,
                "name": ANSWER,
                "parts": [{"text": ""}],
                "metadata": uai_meta(seq),
            }
            out.append(self._artifact(seq, chunk, append=True, last=True))
            self._answer = None

    def _final(self, seq: int, content: str, out: list[dict[str, Any]]) -> None:
        """The answer: what its deltas did not say (``answer_text.unsaid``: all of them, or
        their last round — an agent's answer is often the text after its last tool call); the
        whole of it, replacing them, when it continues neither."""
        if self._answer is None:
            self._delta(seq, content, out, last=True)
            return
        so_far = "".join(self._streamed)
        last_round = "".join(self._streamed[self._round_start :])
        rest = unsaid(content, self._streamed, self._round_start)
        if content.startswith(so_far) or (last_round and content.startswith(last_round)):
            self._delta(seq, rest, out, last=True)  # (its last round only, often: said already)
        else:
            self._delta(seq, content, out, last=True, replace=True)


# --- a task as it stands ------------------------------------------------------------------------


def history_message(message: Any, *, task_id: str, context_id: str) -> dict[str, Any]:
    """A chat message of the run (``chats.models.Message``) in a task's history."""
    user = message.role == "user"
    meta = (
        uai_meta(int(message.seq), type=message.step_type)
        if message.step_type
        else uai_meta(int(message.seq))
    )
    return text_message(
        message.content,
        role=USER if user else AGENT,
        message_id=(message.client_message_id or str(message.id)) if user else str(message.id),
        task_id=task_id,
        context_id=context_id,
        meta=meta,
    )


def task_of(
    run: Any,
    *,
    events: list[StreamEvent] | None,
    messages: list[Any] | None,
    history_length: int | None,
    base_url: str,
    seq: int | None = None,
) -> dict[str, Any]:
    """The task a run is (``Task``): its state from the run row, its artifacts from its events
    (``events`` None: none given), its history from its messages (the last ``history_length``,
    None: all). ``seq``: the event number it stands at, in its metadata."""
    task_id = str(run.id)
    context_id = str(run.chat_id or "")
    state = STATES[run.status]
    status: dict[str, Any] = {"state": state, "timestamp": timestamp(run.updated_at)}
    translator = A2AEvents(task_id, context_id, base_url=base_url)
    last = 0
    for event in events or []:
        translator.feed(event)
        last = event["seq"]
    told = translator.last_status
    if told is not None and told["state"] == state and "message" in told:
        status["message"] = told["message"]
    elif state == INPUT_REQUIRED and run.input_prompt:
        status["message"] = text_message(
            run.input_prompt,
            role=AGENT,
            message_id=f"{task_id}-q",
            task_id=task_id,
            context_id=context_id,
            meta=None,
        )
    elif state == FAILED and run.error:
        status["message"] = text_message(
            run.error,
            role=AGENT,
            message_id=f"{task_id}-error",
            task_id=task_id,
            context_id=context_id,
            meta=None,
        )
    task: dict[str, Any] = {"id": task_id, "contextId": context_id, "status": status}
    if events is not None and translator.outputs:
        task["artifacts"] = list(translator.outputs.values())
    if messages is not None and history_length != 0:
        history = [history_message(m, task_id=task_id, context_id=context_id) for m in messages]
        task["history"] = history[-history_length:] if history_length else history
    if seq is not None or last:  # (a task listed without its events: where it stands is not read)
        task["metadata"] = uai_meta(seq if seq is not None else last)
    return task


def timestamp(value: datetime.datetime) -> str:
    """A time as ProtoJSON writes a Timestamp (RFC 3339, UTC, ``Z``)."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- push notifications -----------------------------------------------------------------------------


class PushFormat:
    """The bodies UAI POSTs to an A2A push notification URL: each ``StreamResponse`` of the run,
    in order (a webhook format of ``UAI_WEBHOOK_FORMATS``, fed every event of the run)."""

    def __init__(self, webhook: Any, *, base_url: str) -> None:
        self.translator = A2AEvents(webhook.run_id, base_url=base_url)

    def feed(self, event: StreamEvent) -> list[dict[str, Any]]:
        """The bodies one event of the run makes (none after its terminal status)."""
        return self.translator.feed(event)
