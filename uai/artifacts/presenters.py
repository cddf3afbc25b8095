"""The one JSON shape of an artifact, for REST responses and stream events alike."""

from __future__ import annotations

from uai.artifacts.models import Artifact
from uai.runs.stream_events import ArtifactData


def download_path(artifact: Artifact) -> str:
    """Where the bytes are served: under the chat when there is one, else under the run."""
    if artifact.chat_id:
        return f"/chat/{artifact.chat_id}/artifacts/{artifact.id}/download"
    return f"/run/{artifact.run_id}/artifacts/{artifact.id}/download"


def artifact_data(artifact: Artifact, *, base_url: str = "") -> ArtifactData:
    """An artifact's metadata with its ``download_url`` (absolute when ``base_url`` is given)."""
    return {
        "id": str(artifact.id),
        "artifact_id": str(artifact.id),
        "name": artifact.name,
        "media_type": artifact.media_type,
        "size": artifact.size,
        "checksum": artifact.checksum,
        "origin": artifact.origin,
        "chat_id": artifact.chat_id,
        "run_id": str(artifact.run_id) if artifact.run_id else None,
        "message_id": str(artifact.message_id) if artifact.message_id else None,
        "data": artifact.data,
        "created_at": artifact.created_at.isoformat() if artifact.created_at else None,
        "download_url": base_url + download_path(artifact),
    }
