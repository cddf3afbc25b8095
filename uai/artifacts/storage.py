"""The bytes of artifacts: names and media types, writing and removing stored files.

Below the services and the EventSink alike: both store artifacts through ``stored``, and the row
is written by whichever of them records it (the sink, for the artifacts that go with an event).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mimetypes
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction

from uai.artifacts.models import Artifact
from uai.limits import services as limit_services
from uai_project.errors import TooLarge

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 255


def clean_name(name: str) -> str:
    """A display name without path parts or control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:MAX_NAME_CHARS] or "file"


def guess_media_type(name: str, declared: str | None) -> str:
    """The declared type if it looks like one, else a guess from the name."""
    if declared and "/" in declared and len(declared) <= 200 and declared.isprintable():
        return declared.split(";")[0].strip().lower()
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def stored(
    *,
    owner_id: int,
    name: str,
    content: bytes | None = None,
    upload: UploadedFile | None = None,
    data: Any = None,
    media_type: str | None = None,
    origin: str = Artifact.Origin.AGENT,
    chat_id: str | None = None,
    run_id: Any = None,
    message_id: Any = None,
    seq: int | None = None,
) -> Artifact:
    """An unsaved artifact of bytes (or an upload, or a JSON value), its file already stored
    under a generated name; ``insert`` saves it."""
    name = clean_name(name)
    artifact = Artifact(
        id=uuid.uuid4(),
        owner_id=owner_id,
        chat_id=chat_id,
        run_id=run_id,
        message_id=message_id,
        origin=origin,
        name=name,
        seq=seq,
    )
    digest = hashlib.sha256()
    if upload is not None:
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
        artifact.size = upload.size or 0
        artifact.media_type = guess_media_type(name, media_type or upload.content_type)
        artifact.file.save(name, upload, save=False)
    elif content is not None:
        if len(content) > settings.UAI_MAX_UPLOAD_BYTES:
            raise TooLarge(f"Artifact {name!r} is larger than {settings.UAI_MAX_UPLOAD_BYTES} bytes.")
        digest.update(content)
        artifact.size = len(content)
        artifact.media_type = guess_media_type(name, media_type)
        artifact.file.save(name, ContentFile(content), save=False)
    else:
        encoded = json.dumps(data, default=str).encode()
        digest.update(encoded)
        artifact.data = data
        artifact.size = len(encoded)
        artifact.media_type = media_type or "application/json"
    artifact.checksum = digest.hexdigest()
    return artifact


def insert(artifact: Artifact) -> Artifact:
    """Save a ``stored`` artifact's row, within its owner's storage quota (413 past it); its file
    goes when the row cannot be written."""
    try:
        with contextlib.nullcontext() if connection.in_atomic_block else transaction.atomic():
            limit_services.storage_allowed(
                owner_id=artifact.owner_id, adding=artifact.size, name=artifact.name
            )
            artifact.save(force_insert=True)
    except Exception:
        delete_files([artifact.file.name] if artifact.file else [])
        raise
    return artifact


def delete_files(names: Iterable[str | None]) -> None:
    """Remove stored files (after their rows are gone); a missing file is not an error, nor a
    missing name (an artifact without a file)."""
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete stored file %s", name, exc_info=True)
