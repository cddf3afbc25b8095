"""A turn's reply as SSE chunks ``{content, is_final, metrics}``: the stream seed 003's
``/chat/stream`` and seed 004's ``/conversations/inference/…`` both send."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from uai.agents import events as ev
from uai.dialects import answer_text, sse
from uai.runs import streams
from uai.runs.models import Run
from uai.runs.stream_events import EventType
from uai_project import errors
from uai_project.errors import outage

logger = logging.getLogger(__name__)


async def chunks(*, chat_id: str, run_id: str, after_seq: int, fresh: bool = True) -> AsyncIterator[bytes]:
    """The turn's text as it comes (coalesced deltas), then a final chunk with metrics.

    ``fresh``: ``after_seq`` was written or read a moment ago (see ``streams.follow``); False to
    replay a turn that may have ended already.
    """
    started = time.monotonic()
    first_chunk_at: float | None = None
    streamed: list[str] = []
    round_start = 0  # where the last round of streamed text starts
    final_text: str | None = None
    agent_stats: dict[str, Any] = {}
    count = 0
    try:
        async for event in streams.follow(
            chat_id=chat_id,
            after_seq=after_seq,
            idle_seconds=settings.UAI_STREAM_KEEPALIVE_SECONDS,
            fresh=fresh,
        ):
            if event is None:
                yield sse.KEEPALIVE
                continue
            if event.get("run_id") != run_id:
                continue
            if event["type"] == EventType.DELTA and event["data"]["text"]:
                first_chunk_at = first_chunk_at or time.monotonic()
                streamed.append(event["data"]["text"])
                count += 1
                yield sse.encode(
                    event["seq"], {"content": event["data"]["text"], "is_final": False, "metrics": None}
                )
            elif event["type"] == EventType.STEP and event["data"]["step_type"] == ev.FINAL_ANSWER_STEP:
                final_text = event["data"]["content"]
            elif event["type"] == EventType.STEP:
                round_start = len(streamed)  # the text after a step (a tool call) is a new round
            elif event["type"] == EventType.INPUT_REQUIRED:
                final_text = event["data"]["prompt"]
            elif event["type"] == EventType.STATS:
                agent_stats.update(event["data"].get("data") or {})
            elif event["type"] == EventType.STATUS and event["data"]["status"] in Run.TURN_ENDS:
                data = event["data"]
                so_far = "".join(streamed)
                rest = answer_text.unsaid(final_text or "", streamed, round_start)
                first_chunk_at = first_chunk_at or time.monotonic()
                metrics = {
                    "tokens": agent_stats.get("tokens", len((final_text or so_far).split())),
                    "chunks": count + 1,
                    "time_to_first_chunk_ms": round((first_chunk_at - started) * 1000, 3),
                    "total_ms": round((time.monotonic() - started) * 1000, 3),
                    "status": data["status"],
                    "run_id": run_id,
                    "conversation_id": chat_id,
                }
                final: dict[str, Any] = {"content": rest, "is_final": True, "metrics": metrics}
                if data["status"] == Run.Status.FAILED:
                    final["error"] = data.get("error") or "The agent failed."
                yield sse.encode(event["seq"], final)
                return
    except streams.StreamOverflow as exc:
        yield error_chunk(exc)
    except streams.ChatGone:
        yield error_chunk(errors.Gone("The conversation was deleted."))
    except DatabaseError as error:
        if outage(error) is None:
            raise  # a bug, not an outage: logged with its traceback where the server logs them
        logger.warning("a stream's database went away; ending it with an error chunk")
        yield error_chunk(errors.Unavailable("The database is unreachable for a moment; try again shortly."))


def error_chunk(error: errors.UAIError) -> bytes:
    """The reply's last chunk when it cannot go on: final, empty, and ``error`` its detail (the
    seeds' chunks carry no code, so the shape is the same for every one)."""
    return sse.encode(None, {"content": "", "is_final": True, "metrics": None, "error": error.detail})
