"""Reads of artifacts, scoped to a chat or a run the user owns."""

from __future__ import annotations

from typing import Any

from uai.artifacts.models import Artifact
from uai_project.api import parse_uuid
from uai_project.errors import NotFound


def artifact_list(*, chat_id: str | None = None, run_id: Any = None) -> list[Artifact]:
    """The artifacts of a chat or a run, oldest first."""
    qs = Artifact.objects.all()
    qs = qs.filter(chat_id=chat_id) if chat_id is not None else qs.filter(run_id=run_id)
    return list(qs.order_by("created_at", "seq"))


def turn_artifacts(*, run_id: Any, after_seq: int) -> list[Artifact]:
    """What the agent produced in a turn after ``after_seq``, oldest first."""
    return list(
        Artifact.objects.filter(run_id=run_id, origin=Artifact.Origin.AGENT, seq__gt=after_seq).order_by(
            "created_at", "seq"
        )
    )


def message_file_get(*, message_id: Any, file_id: str) -> Artifact:
    """One file attached to a message, or 404."""
    artifact = Artifact.objects.filter(message_id=message_id, pk=parse_uuid(file_id, "File")).first()
    if artifact is None:
        raise NotFound("File not found.")
    return artifact


def artifact_get(*, artifact_id: str, chat_id: str | None = None, run_id: Any = None) -> Artifact:
    """One artifact of that chat or run, or 404."""
    qs = Artifact.objects.filter(pk=parse_uuid(artifact_id, "Artifact"))
    qs = qs.filter(chat_id=chat_id) if chat_id is not None else qs.filter(run_id=run_id)
    artifact = qs.first()
    if artifact is None:
        raise NotFound("Artifact not found.")
    return artifact
