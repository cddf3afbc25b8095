"""Artifact routes shared by chats and runs: list, metadata, download."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import FileResponse, HttpResponse, HttpResponseBase
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.artifacts import selectors
from uai.artifacts.models import Artifact
from uai.artifacts.presenters import artifact_data
from uai.artifacts.serializers import ArtifactOut
from uai_project.api import IgnoreAcceptNegotiation, base_url
from uai_project.errors import json_error

ScopeResolver = Callable[..., dict[str, Any]]


class ArtifactScope:
    """Finds the chat or run an artifact route is under (404 unless the user owns it).

    Each route family passes its resolver: ``View.as_view(resolve=chat_scope)``.
    """

    resolve: ScopeResolver | None = None

    def scope(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        assert self.resolve is not None, "as_view(resolve=...) names how to find the owner"
        return self.resolve(request.user, **kwargs)


class ArtifactListView(ArtifactScope, APIView):
    @extend_schema(responses=ArtifactOut(many=True))
    def get(self, request: Request, **kwargs: Any) -> Response:
        """All artifacts of the chat or run, oldest first."""
        artifacts = selectors.artifact_list(**self.scope(request, **kwargs))
        base = base_url(request)
        return Response([artifact_data(a, base_url=base) for a in artifacts])


class ArtifactDetailView(ArtifactScope, APIView):
    @extend_schema(responses=ArtifactOut)
    def get(self, request: Request, artifact_id: str, **kwargs: Any) -> Response:
        """One artifact's metadata, with the ``download_url`` of its bytes."""
        artifact = selectors.artifact_get(artifact_id=artifact_id, **self.scope(request, **kwargs))
        return Response(artifact_data(artifact, base_url=base_url(request)))


class ArtifactDownloadView(ArtifactScope, APIView):
    content_negotiation_class = IgnoreAcceptNegotiation

    # The artifact's own media type, whatever it is; a missing file is a JSON 404.
    @extend_schema(responses={(200, "*/*"): OpenApiTypes.BINARY})
    def get(self, request: Request, artifact_id: str, **kwargs: Any) -> HttpResponseBase:
        """The artifact's bytes, with its media type, as an attachment."""
        artifact = selectors.artifact_get(artifact_id=artifact_id, **self.scope(request, **kwargs))
        return download_response(artifact)


def download_response(artifact: Artifact, *, inline: bool = False) -> HttpResponseBase:
    """Serve stored bytes safely: declared type, no sniffing, sandboxed; an attachment unless
    ``inline`` (the admin's previews). 404 when the stored file is gone."""
    from uai.artifacts.services import read_bytes

    response: HttpResponseBase
    if artifact.file:
        try:
            handle = artifact.file.open("rb")
        except OSError:
            return json_error("The stored file is missing.", 404)
        response = FileResponse(
            handle, as_attachment=not inline, filename=artifact.name, content_type=artifact.media_type
        )
    elif artifact.data is not None:
        response = HttpResponse(read_bytes(artifact), content_type=artifact.media_type)
        # Never None: it is None only for an inline response without a file name.
        if disposition := content_disposition_header(not inline, f"{artifact.name}.json"):
            response["Content-Disposition"] = disposition
    else:
        return json_error("This artifact has no content.", 404)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response
