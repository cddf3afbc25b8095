"""Admin: runs with live status, logs and artifacts inline, cancel and retry; logs, stats and events.

While a run is active its change page and the run list poll staff-only JSON views of this admin
(``<id>/live/`` and ``live/``) about once a second (``admin_live/run_live.js``) and stop when the
run ends. The public ``/run/{id}`` serves only a run's owner, so the admin never uses it.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Left
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from uai.artifacts.admin import artifact_inline
from uai.runs import selectors, services
from uai.runs.models import Event, Log, Run, Stat
from uai.runs.presenters import log_data, status_data
from uai_project.admin_ids import IDS_CSS, short_id
from uai_project.admin_utils import LOG_FIELDS, ChangedFieldsSaveMixin, read_only_inline, staff_view
from uai_project.api import whole_number
from uai_project.errors import Conflict, InvalidInput, UAIError, json_error

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

LIVE_LOG_LINES = 50  # newest log lines the live view sends and the page keeps
MAX_LIVE_RUNS = 200  # runs one poll of the run list may ask about (a page shows 100)
LATEST_LOG_CHARS = 200  # of a run's newest log line, shown in the run list
RETRIABLE = (Run.Status.FAILED, Run.Status.CANCELLED)

RunLogInline = read_only_inline(Log, fk_name="run", fields=LOG_FIELDS)
RunArtifactInline = artifact_inline("run")


def live_data(run: Run) -> dict[str, Any]:
    """What the live views send of a run: its status event's fields, and whether it is over."""
    return {**status_data(run), "terminal": run.is_terminal}


def _hidden_if_empty(value: Any) -> SafeString:
    return mark_safe(" hidden") if value in (None, "") else mark_safe("")


def _log_lines(logs: list[Log]) -> SafeString:
    return format_html_join(
        "",
        '<li class="uai-log-{}"><time>{}</time> <b>{}</b> {}</li>',
        (
            (log.level, log.created_at.strftime("%H:%M:%S"), log.level, log.message)
            for log in logs
            if log.created_at
        ),
    )


class NewestLog(TypedDict):
    """What RunAdmin.get_queryset adds to each run."""

    newest_log: str | None


@admin.register(Run)
class RunAdmin(ChangedFieldsSaveMixin[Run]):
    list_display = (
        "short_id",
        "agent",
        "kind",
        "owner",
        "live_status",
        "live_progress",
        "live_step",
        "latest_log",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "kind", "agent", "owner", "created_at")
    search_fields = ("id", "chat__id", "owner__username", "error")
    # Every field is read-only; the live panel stands for status, progress, step, error and output.
    fields = readonly_fields = (
        "id",
        "owner",
        "agent",
        "chat",
        "kind",
        "input",
        "live",
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
    actions = ["cancel_runs", "retry_runs"]
    date_hierarchy = "created_at"

    class Media:
        js = ("admin_live/run_live.js",)
        css = {"all": ("admin_live/run_live.css", IDS_CSS)}

    @admin.display(description="id", ordering="id")
    def short_id(self, run: Run) -> SafeString | str:
        return short_id(run.pk)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WithAnnotations[Run, NewestLog]]:
        # The newest log line of each run for the list, one indexed subquery (run, seq) per row.
        newest = Log.objects.filter(run_id=OuterRef("pk")).order_by("-seq", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(newest_log=Subquery(newest.values(short=Left("message", LATEST_LOG_CHARS))[:1]))
        )

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("live/", staff_view(self, self.live_list_view), name="{}_{}_live_list".format(*info)),
            path("<path:object_id>/live/", staff_view(self, self.live_view), name="{}_{}_live".format(*info)),
            *super().get_urls(),
        ]

    # --- the live views ----------------------------------------------------------------------------

    def live_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """One run's status, progress and current step, and its newest log lines after ``?after=<seq>``."""
        run = self.get_object(request, object_id)
        if run is None:
            return json_error("Run not found.", 404)
        try:
            after = whole_number(request.GET.get("after") or "0", "after (a log line's seq)")
        except InvalidInput as exc:
            return json_error(exc.detail, 400)
        logs = selectors.log_newest(run_id=run.pk, after_seq=after, limit=LIVE_LOG_LINES)
        return JsonResponse(
            {
                **live_data(run),
                "logs": [log_data(log) for log in logs],
                "last_seq": logs[-1].seq if logs else after,
            }
        )

    def live_list_view(self, request: HttpRequest) -> HttpResponse:
        """The status of the runs named by ``?id=…`` (repeated), with each one's newest log line."""
        ids = []
        for value in request.GET.getlist("id")[:MAX_LIVE_RUNS]:
            with contextlib.suppress(ValueError):
                ids.append(uuid.UUID(value))
        runs = self.get_queryset(request).filter(pk__in=ids)
        return JsonResponse(
            {"runs": {str(run.pk): {**live_data(run), "latest_log": run.newest_log} for run in runs}}
        )

    # --- columns and fields that the live views update ---------------------------------------------

    def _cell(self, run: Run, field: str, content: Any) -> SafeString:
        return format_html('<span data-uai-run="{}" data-uai-field="{}">{}</span>', run.pk, field, content)

    @admin.display(description="status", ordering="status")
    def live_status(self, run: Run) -> SafeString:
        """The status; an active run's cell names the view the page polls."""
        if run.is_terminal:
            return self._cell(run, "status", run.status)
        url = reverse(f"{self.admin_site.name}:runs_run_live_list")
        return format_html(
            '<span data-uai-run="{}" data-uai-field="status" data-uai-active data-uai-live-url="{}">{}</span>',
            run.pk,
            url,
            run.status,
        )

    @admin.display(description="progress", ordering="progress")
    def live_progress(self, run: Run) -> SafeString:
        """A progress bar and the percent."""
        percent = f"{run.progress:.0f}%"
        return format_html(
            '<progress max="100" value="{}" data-uai-run="{}" data-uai-field="progress">{}</progress> {}',
            run.progress,
            run.pk,
            percent,
            self._cell(run, "progress_text", percent),
        )

    @admin.display(description="current step", ordering="current_step")
    def live_step(self, run: Run) -> SafeString:
        """What the agent is doing."""
        return self._cell(run, "current_step", run.current_step)

    @admin.display(description="latest log")
    def latest_log(self, run: Run) -> SafeString:
        """The run's newest log line (shortened)."""
        return self._cell(run, "latest_log", getattr(run, "newest_log", None) or "")

    @admin.display(description="live status")
    def live(self, run: Run) -> SafeString:
        """Status, progress, current step, question, error, output and the newest log lines."""
        logs = selectors.log_newest(run_id=run.pk, after_seq=0, limit=LIVE_LOG_LINES)
        output = json.dumps(run.output, indent=2, ensure_ascii=False) if run.output is not None else ""
        return format_html(
            '<div class="uai-live" data-uai-live-url="{}" data-uai-after="{}"{}>'
            '<div class="uai-live-head"><strong data-uai-field="status">{}</strong> '
            '<progress max="100" value="{}" data-uai-field="progress">{}</progress> '
            '<span data-uai-field="progress_text">{}</span> '
            '<span data-uai-field="current_step">{}</span></div>'
            '<div class="uai-live-prompt"{}>Waiting for input: <span data-uai-field="input_prompt">{}</span></div>'
            '<div class="uai-live-error" data-uai-field="error"{}>{}</div>'
            '<pre class="uai-live-output" data-uai-field="output"{}>{}</pre>'
            '<ol class="uai-live-logs" data-uai-field="logs">{}</ol>'
            "</div>",
            reverse(f"{self.admin_site.name}:runs_run_live", args=[run.pk]),
            logs[-1].seq if logs else 0,
            mark_safe("") if run.is_terminal else mark_safe(" data-uai-active"),
            run.status,
            run.progress,
            f"{run.progress:.0f}%",
            f"{run.progress:.0f}%",
            run.current_step,
            _hidden_if_empty(run.input_prompt),
            run.input_prompt,
            _hidden_if_empty(run.error),
            run.error,
            _hidden_if_empty(output),
            output,
            _log_lines(logs),
        )

    # --- actions -----------------------------------------------------------------------------------

    @admin.action(description="Cancel selected runs", permissions=["change"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        cancelled = 0
        for run in queryset.filter(status__in=Run.ACTIVE):
            try:
                services.run_cancel(run=run)
                cancelled += 1
            except Conflict:
                pass
        self.message_user(request, f"Cancelled {cancelled} run(s).", messages.SUCCESS)

    @admin.action(description="Retry selected runs", permissions=["change"])
    def retry_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        """Start each failed or cancelled task again as a new run; say what was skipped and why."""
        started: list[Run] = []
        turns = not_over = 0
        refused: list[str] = []
        for run in queryset:
            if run.kind == Run.Kind.TURN:
                turns += 1
            elif run.status not in RETRIABLE:
                not_over += 1
            else:
                try:
                    started.append(services.run_retry(run=run))
                except (UAIError, OSError) as exc:
                    refused.append(f"{run.pk}: {exc}")
        if started:
            new_ids = ", ".join(str(run.pk) for run in started)
            self.message_user(request, f"Retried {len(started)} run(s) as {new_ids}.", messages.SUCCESS)
        if turns:
            self.message_user(
                request,
                f"Skipped {turns} chat turn(s): a turn is retried by sending the message again.",
                messages.WARNING,
            )
        if not_over:
            self.message_user(
                request,
                f"Skipped {not_over} run(s) that are active or succeeded: "
                "only failed or cancelled runs are retried.",
                messages.WARNING,
            )
        if refused:
            self.message_user(
                request, f"Could not retry {len(refused)} run(s): {'; '.join(refused)}", messages.ERROR
            )

    # Deleted as a cancel would stop it (its job aborted, its chat settled), its files removed.
    def delete_model(self, request: HttpRequest, obj: Run) -> None:
        services.run_delete(run=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        for run in queryset:
            services.run_delete(run=run)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Log)
class LogAdmin(admin.ModelAdmin[Log]):
    list_display = ("created_at", "level", "source", "run", "chat", "message")
    list_filter = ("level", "source", "created_at")
    search_fields = ("message", "run__id", "chat__id")
    list_select_related = ("run", "chat")
    readonly_fields = ("chat", "run", "seq", "level", "source", "message", "data", "created_at")


@admin.register(Stat)
class StatAdmin(admin.ModelAdmin[Stat]):
    list_display = ("created_at", "name", "run", "chat", "data")
    list_filter = ("name", "created_at")
    list_select_related = ("run", "chat")
    readonly_fields = ("chat", "run", "seq", "name", "data", "created_at")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ("created_at", "seq", "type", "chat", "run")
    list_filter = ("type", "created_at")
    search_fields = ("chat__id", "run__id")
    list_select_related = ("run", "chat")
    readonly_fields = ("chat", "run", "seq", "type", "data", "created_at")
