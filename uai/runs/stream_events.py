"""The stream event schema: every event type a chat's or a run's stream carries, and its payload.

The EventSink builds each event's ``data`` as one of the payloads below and numbers it; every
dialect reads events of these types back (live from the channel layer, or from the ``Event``
table) and translates them. An event on the wire::

    {"seq": 7, "type": "step", "chat_id": "…", "run_id": "…", "data": StepData, "created_at": "…"}

``gap`` and ``past_end`` are not stored: a stream makes them where retention removed events, or
where a client asked to resume past the end (``gap_event``, ``past_end_event``); they carry only
``seq``, ``type`` and ``data``.

``StreamEvent`` ties each type to its payload, so a type checker narrows ``event["data"]`` once
``event["type"]`` was compared with an ``EventType`` member. (An event read back from JSON
carries its type as a plain string, equal to the member.)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar


class EventType(StrEnum):
    """The ``type`` of a stream event."""

    STATUS = "status"  # a run's status changed (StatusData)
    STEP = "step"  # one step of the agent's work, the final answer too (StepData)
    DELTA = "delta"  # a piece of the answer's text as the agent produces it (DeltaData)
    LOG = "log"  # a log line of the agent, a client or UAI itself (LogData)
    ARTIFACT = "artifact"  # a file or value the agent produced (ArtifactData)
    PROGRESS = "progress"  # how far a run is (ProgressData)
    STATE = "state"  # what the agent keeps for the chat's next turn (StateData)
    STATS = "stats"  # figures of a turn or run (StatsData)
    INPUT_REQUIRED = "input_required"  # the agent asks a question and waits (InputRequiredData)
    INPUT = "input"  # the answer to that question arrived (InputData)
    MESSAGE = "message"  # a message added to a chat: the user's, or one added as is (MessageEventData)
    MESSAGE_DELETED = "message_deleted"  # (MessageDeletedData)
    FILE_DELETED = "file_deleted"  # a file removed from a message (FileDeletedData)
    GAP = "gap"  # made by a stream: events removed by retention (GapData)
    PAST_END = "past_end"  # made by a stream: resumed past the last number (PastEndData)


class ArtifactData(TypedDict):
    """An artifact's metadata (``artifacts.presenters.artifact_data``)."""

    id: str
    artifact_id: str
    name: str
    media_type: str
    size: int
    checksum: str
    origin: str
    chat_id: str | None
    run_id: str | None
    message_id: str | None
    data: Any
    created_at: str | None
    download_url: str


class MessageData(TypedDict):
    """A chat message with its files (``chats.presenters.message_data``)."""

    id: str
    chat_id: str
    run_id: str | None
    seq: int
    role: str
    content: str
    step_type: str | None
    message_id: str | None
    created_at: str | None
    files: list[ArtifactData]


class StatusData(TypedDict):
    """What a ``status`` event tells of its run (``runs.presenters.status_data``)."""

    status: str
    progress: float
    current_step: str
    error: str | None
    output: Any
    input_prompt: str | None
    estimated_completion_time: str | None


class StepData(TypedDict):
    """A step: ``data`` when the agent gave any, ``message`` when it is a chat's."""

    step_type: str
    content: str
    data: NotRequired[dict[str, Any]]
    message: NotRequired[MessageData]


class DeltaData(TypedDict):
    text: str


class LogData(TypedDict):
    """A log line (``runs.presenters.log_data``)."""

    id: int
    seq: int
    run_id: str | None
    chat_id: str | None
    level: str
    message: str
    source: str
    data: dict[str, Any]
    created_at: str | None


class ProgressData(TypedDict):
    progress: float
    current_step: str
    estimated_completion_time: str | None


class StateData(TypedDict):
    state: dict[str, Any]


class StatsData(TypedDict):
    name: str
    data: dict[str, Any]


class ToolCallData(TypedDict):
    """A front-end tool's call (``context.call_tool``): the front end runs it and answers with its
    result. ``arguments``: JSON text, as OpenAI's function calls carry them."""

    id: str
    name: str
    arguments: str


class InputRequiredData(TypedDict):
    """The agent's question; ``message`` when it is a chat's (the question is a message there);
    ``tool_call`` when the question is a front-end tool's call rather than a question to a person."""

    prompt: str
    message: NotRequired[MessageData]
    tool_call: NotRequired[ToolCallData]
    value: NotRequired[Any]  # the question as a JSON value, when it is more than its text


class InputData(TypedDict):
    text: str


class MessageEventData(TypedDict):
    message: MessageData


class MessageDeletedData(TypedDict):
    message_id: str


class FileDeletedData(TypedDict):
    message_id: str
    artifact_id: str


class GapData(TypedDict):
    after_seq: int
    first_seq: int
    detail: str


class PastEndData(TypedDict):
    after_seq: int
    last_seq: int
    detail: str


T = TypeVar("T", bound=EventType)
D = TypeVar("D")


class Numbered(TypedDict, Generic[T, D]):
    """An event the sink numbered, stored and published: of type ``T``, with payload ``D``."""

    seq: int
    type: T
    chat_id: str | None
    run_id: str | None
    data: D
    created_at: str


class Marker(TypedDict, Generic[T, D]):
    """An event a stream makes as it is read (not stored): of type ``T``, with payload ``D``."""

    seq: int
    type: T
    data: D


StatusEvent = Numbered[Literal[EventType.STATUS], StatusData]
StepEvent = Numbered[Literal[EventType.STEP], StepData]
DeltaEvent = Numbered[Literal[EventType.DELTA], DeltaData]
LogEvent = Numbered[Literal[EventType.LOG], LogData]
ArtifactEvent = Numbered[Literal[EventType.ARTIFACT], ArtifactData]
ProgressEvent = Numbered[Literal[EventType.PROGRESS], ProgressData]
StateEvent = Numbered[Literal[EventType.STATE], StateData]
StatsEvent = Numbered[Literal[EventType.STATS], StatsData]
InputRequiredEvent = Numbered[Literal[EventType.INPUT_REQUIRED], InputRequiredData]
InputEvent = Numbered[Literal[EventType.INPUT], InputData]
MessageEvent = Numbered[Literal[EventType.MESSAGE], MessageEventData]
MessageDeletedEvent = Numbered[Literal[EventType.MESSAGE_DELETED], MessageDeletedData]
FileDeletedEvent = Numbered[Literal[EventType.FILE_DELETED], FileDeletedData]
GapEvent = Marker[Literal[EventType.GAP], GapData]
PastEndEvent = Marker[Literal[EventType.PAST_END], PastEndData]

# One event as it is published, stored and read back (``Numbered``), or made by a stream (``Marker``).
StreamEvent = (
    StatusEvent
    | StepEvent
    | DeltaEvent
    | LogEvent
    | ArtifactEvent
    | ProgressEvent
    | StateEvent
    | StatsEvent
    | InputRequiredEvent
    | InputEvent
    | MessageEvent
    | MessageDeletedEvent
    | FileDeletedEvent
    | GapEvent
    | PastEndEvent
)


def gap_event(after_seq: int, first_kept: int) -> GapEvent:
    """The marker a stream yields where retention removed events: clients learn, not skip."""
    return {
        "seq": first_kept - 1,
        "type": EventType.GAP,
        "data": {
            "after_seq": after_seq,
            "first_seq": first_kept,
            "detail": f"events {after_seq + 1} to {first_kept - 1} are no longer kept",
        },
    }


def past_end_event(after_seq: int, last: int) -> PastEndEvent:
    """The marker a stream yields when asked to resume past its last number: it follows from
    that number instead (``seq``), so the client learns where the stream really is."""
    return {
        "seq": last,
        "type": EventType.PAST_END,
        "data": {
            "after_seq": after_seq,
            "last_seq": last,
            "detail": f"after_seq {after_seq} is past the last event ({last}): following from {last}",
        },
    }
