"""The one JSON shape of runs and logs, for REST responses and stream events alike."""

from __future__ import annotations

from typing import Any

from uai.runs.models import Log, Run


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def run_data(run: Run) -> dict[str, Any]:
    """A run's status; ``output`` once it succeeded, ``error`` once it failed."""
    return {
        "task_id": str(run.id),
        "id": str(run.id),
        "agent": run.agent_id,
        "kind": run.kind,
        "chat_id": run.chat_id,
        "schedule_id": str(run.schedule_id) if run.schedule_id else None,
        "status": run.status,
        "progress": run.progress,
        "current_step": run.current_step,
        "input": run.input,
        "output": run.output,
        "error": run.error or None,
        "input_prompt": run.input_prompt or None,
        "attempts": run.attempts,
        "estimated_completion_time": _iso(run.estimated_completion_time),
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "updated_at": _iso(run.updated_at),
    }


def status_data(run: Run) -> dict[str, Any]:
    """The part of a run that a ``status`` event carries."""
    return {
        "status": run.status,
        "progress": run.progress,
        "current_step": run.current_step,
        "error": run.error or None,
        "output": run.output if run.status == Run.Status.SUCCEEDED else None,
        "input_prompt": run.input_prompt or None,
        "estimated_completion_time": _iso(run.estimated_completion_time),
    }


def log_data(log: Log) -> dict[str, Any]:
    """A log line."""
    return {
        "id": log.id,
        "seq": log.seq,
        "run_id": str(log.run_id) if log.run_id else None,
        "chat_id": log.chat_id,
        "level": log.level,
        "message": log.message,
        "source": log.source,
        "data": log.data,
        "created_at": _iso(log.created_at),
    }
