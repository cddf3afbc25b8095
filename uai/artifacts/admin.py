"""Admin: artifacts."""

from __future__ import annotations

from django.contrib import admin

from uai.artifacts.models import Artifact


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ("name", "media_type", "size", "origin", "owner", "chat", "run", "created_at")
    list_filter = ("origin", "media_type", "created_at")
    search_fields = ("name", "chat__id", "run__id", "checksum")
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
        "file",
        "data",
        "seq",
        "created_at",
    )
