"""Writing artifacts: files users upload, and checks on uploads before anything is stored.

Artifacts an agent produces, and the files of a chat message, are recorded by the EventSink
(they go with an event); their bytes are stored through ``storage`` either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from uai.artifacts import storage
from uai.artifacts.models import Artifact
from uai_project.errors import InvalidInput, TooLarge


class Sized(Protocol):
    """What the upload limits are about: uploads, and the artifacts a message copies."""

    @property
    def name(self) -> str | None: ...
    @property
    def size(self) -> int | None: ...


S = TypeVar("S", bound=Sized)


def check_uploads(files: Iterable[S]) -> list[S]:
    """Enforce the upload limits (count and size per file) before anything is stored."""
    files = list(files)
    if len(files) > settings.UAI_MAX_UPLOAD_FILES:
        raise TooLarge(f"At most {settings.UAI_MAX_UPLOAD_FILES} files per request.")
    for upload in files:
        if upload.size is not None and upload.size > settings.UAI_MAX_UPLOAD_BYTES:
            raise TooLarge(
                f"File {storage.clean_name(upload.name or '')!r} is larger than "
                f"{settings.UAI_MAX_UPLOAD_BYTES} bytes."
            )
    return files


def artifact_create(
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
) -> Artifact:
    """Store bytes (or an upload, or a JSON value) as an artifact under a generated name."""
    return storage.insert(
        storage.stored(
            owner_id=owner_id,
            name=name,
            content=content,
            upload=upload,
            data=data,
            media_type=media_type,
            origin=origin,
            chat_id=chat_id,
            run_id=run_id,
        )
    )


def read_bytes(artifact: Artifact) -> bytes:
    """The artifact's bytes (a JSON artifact's encoded value)."""
    if artifact.file:
        with artifact.file.open("rb") as handle:
            content: bytes = handle.read()
            return content
    if artifact.data is not None:
        return json.dumps(artifact.data).encode()
    raise InvalidInput("This artifact has no content.")
