"""Admin: runs with logs and artifacts inline, a cancel action; logs, stats and events."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from uai.artifacts.models import Artifact
from uai.runs import services
from uai.runs.models import Event, Log, Run, Stat
from uai_project.admin_utils import (
    ARTIFACT_FIELDS,
    LOG_FIELDS,
    ChangedFieldsSaveMixin,
    read_only_inline,
)
from uai_project.errors import Conflict

RunLogInline = read_only_inline(Log, fk_name="run", fields=LOG_FIELDS)
RunArtifactInline = read_only_inline(Artifact, fk_name="run", fields=ARTIFACT_FIELDS, ordering="created_at")


@admin.register(Run)
class RunAdmin(ChangedFieldsSaveMixin):
    list_display = (
        "id",
        "agent",
        "kind",
        "owner",
        "status",
        "progress",
        "current_step",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "kind", "agent", "owner", "created_at")
    search_fields = ("id", "chat__id", "owner__username", "error")
    readonly_fields = (
        "id",
        "owner",
        "agent",
        "chat",
        "kind",
        "input",
        "status",
        "progress",
        "current_step",
        "output",
        "error",
        "input_prompt",
        "pending_input",
        "estimated_completion_time",
        "job_id",
        "attempts",
        "last_seq",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
    )
    list_select_related = ("owner", "agent")
    inlines = [RunLogInline, RunArtifactInline]
    actions = ["cancel_runs"]
    date_hierarchy = "created_at"

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        cancelled = 0
        for run in queryset.filter(status__in=Run.ACTIVE):
            try:
                services.run_cancel(run=run)
                cancelled += 1
            except Conflict:
                pass
        self.message_user(request, f"Cancelled {cancelled} run(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Log)
class LogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "level", "source", "run", "chat", "message")
    list_filter = ("level", "source", "created_at")
    search_fields = ("message", "run__id", "chat__id")
    readonly_fields = ("chat", "run", "seq", "level", "source", "message", "data", "created_at")


@admin.register(Stat)
class StatAdmin(admin.ModelAdmin):
    list_display = ("created_at", "name", "run", "chat", "data")
    list_filter = ("name", "created_at")
    readonly_fields = ("chat", "run", "seq", "name", "data", "created_at")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "seq", "type", "chat", "run")
    list_filter = ("type", "created_at")
    search_fields = ("chat__id", "run__id")
    readonly_fields = ("chat", "run", "seq", "type", "data", "created_at")
