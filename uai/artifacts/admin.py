"""Admin: artifacts, with previews of images and text and a staff-only view of their bytes.

The public download routes serve only an artifact's owner, so the admin serves files itself
(``<id>/file/``), to staff who may view artifacts. Everything shown of an artifact is escaped.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from uai.artifacts import storage
from uai.artifacts.models import Artifact
from uai.dialects.native_artifacts import download_response
from uai_project.admin_ids import IDS_CSS, short_id
from uai_project.admin_utils import ARTIFACT_FIELDS, read_only_inline, staff_view
from uai_project.errors import json_error

PREVIEW_BYTES = 4096  # of a text file or a JSON value, shown on the page
# Types a browser would treat as a document that may run code: always served as attachments.
ACTIVE_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/javascript"}
)


def is_image(media_type: str) -> bool:
    """Shown as an ``<img>``."""
    return media_type.startswith("image/")


def is_text(media_type: str) -> bool:
    """Shown as text: ``text/*`` and JSON."""
    return media_type.startswith("text/") or media_type == "application/json" or media_type.endswith("+json")


def served_inline(media_type: str) -> bool:
    """Whether the admin's file view lets the browser show the bytes rather than save them."""
    return (is_image(media_type) or is_text(media_type)) and media_type not in ACTIVE_TYPES


def _text_head(artifact: Artifact) -> str | None:
    """The first ``PREVIEW_BYTES`` of a text file or a JSON value, decoded; None for other kinds."""
    if not artifact.file and artifact.data is not None:
        raw = json.dumps(artifact.data, indent=2, ensure_ascii=False, default=str).encode()
    elif artifact.file and is_text(artifact.media_type):
        with artifact.file.open("rb") as handle:
            raw = handle.read(PREVIEW_BYTES)
    else:
        return None
    return raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")


def artifact_preview(artifact: Artifact, *, file_url: str) -> SafeString:
    """An ``<img>`` for images, a ``<pre>`` of the start of text and JSON, else a download link."""
    size = format_html("{} ({} bytes)", artifact.name, artifact.size)
    if artifact.file and is_image(artifact.media_type):
        return format_html(
            '<a href="{}"><img class="uai-preview-image" src="{}" alt="{}"></a><br>{}',
            file_url,
            file_url,
            artifact.name,
            size,
        )
    try:
        head = _text_head(artifact)
    except OSError:
        return format_html("{}: <em>{}</em>", size, "the stored file is missing")
    if head is None:
        return format_html('{} <a href="{}">download</a>', size, file_url)
    shown = "" if artifact.size <= PREVIEW_BYTES else f", the first {PREVIEW_BYTES} shown"
    return format_html(
        '<pre class="uai-preview-text">{}</pre><a href="{}">{}</a> ({} bytes{})',
        head,
        file_url,
        artifact.name,
        artifact.size,
        shown,
    )


class ArtifactPreviewMixin:
    """A read-only ``preview`` for admins and inlines that show artifacts."""

    admin_site: admin.AdminSite

    @admin.display(description="preview")
    def preview(self, artifact: Artifact) -> str:
        """The artifact's preview, its image and links served by the admin's file view."""
        if artifact.pk is None or artifact._state.adding:
            return "-"
        url = reverse(f"{self.admin_site.name}:artifacts_artifact_file", args=[artifact.pk])
        return artifact_preview(artifact, file_url=url)

    class Media:
        css = {"all": ("admin_artifacts/preview.css",)}


def artifact_inline(fk_name: str) -> type:
    """Artifacts under their chat or run, read-only, each with its preview."""
    return read_only_inline(
        Artifact,
        fk_name=fk_name,
        fields=(*ARTIFACT_FIELDS, "preview"),
        ordering="created_at",
        bases=(ArtifactPreviewMixin,),
    )


@admin.register(Artifact)
class ArtifactAdmin(ArtifactPreviewMixin, admin.ModelAdmin[Artifact]):
    list_display = ("name", "media_type", "size", "origin", "owner", "short_chat", "short_run", "created_at")
    list_filter = ("origin", "media_type", "owner", "created_at")
    list_select_related = ("owner", "chat", "run")
    search_fields = ("name", "chat__id", "run__id", "checksum", "owner__username")
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "owner",
        "chat",
        "run",
        "message",
        "origin",
        "name",
        "media_type",
        "size",
        "checksum",
        "preview",
        "stored_as",
        "data",
        "seq",
        "created_at",
    )

    class Media:
        css = {"all": (IDS_CSS,)}

    @admin.display(description="chat", ordering="chat")
    def short_chat(self, artifact: Artifact) -> SafeString | str:
        return short_id(artifact.chat_id)

    @admin.display(description="run", ordering="run")
    def short_run(self, artifact: Artifact) -> SafeString | str:
        return short_id(artifact.run_id)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/file/", staff_view(self, self.file_view), name="{}_{}_file".format(*info)),
            *super().get_urls(),
        ]

    def file_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        """The artifact's bytes, for staff (the public download route serves only the owner)."""
        artifact = self.get_object(request, object_id)
        if artifact is None:
            return json_error("Artifact not found.", 404)
        return download_response(artifact, inline=served_inline(artifact.media_type))

    @admin.display(description="stored as")
    def stored_as(self, artifact: Artifact) -> str:
        """Where the bytes live in storage (not a link: media is never served directly)."""
        return artifact.file.name or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Artifacts come from uploads and agents; an empty form here would only fail to save.
        return False

    # The stored bytes go with the row (Django's delete leaves files on disk).
    def delete_model(self, request: HttpRequest, obj: Artifact) -> None:
        self.delete_queryset(request, Artifact.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Artifact]) -> None:
        with transaction.atomic():
            names = [name for name in queryset.values_list("file", flat=True) if name]
            queryset.delete()
            transaction.on_commit(lambda: storage.delete_files(names))
