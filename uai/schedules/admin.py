"""Admin: schedules with their next time and last run, enabled or disabled in bulk, fired now
("Run now"), and their firings inline. Made and changed through ``services`` (the API's checks)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from uai.schedules import services
from uai.schedules.models import Firing, Schedule
from uai_project.admin_ids import IDS_CSS, short_id
from uai_project.admin_utils import JSON_FORM_FIELDS, read_only_inline
from uai_project.errors import UAIError

FiringInline = read_only_inline(
    Firing, fk_name="schedule", fields=("fire_time", "run", "error", "created_at"), ordering="-fire_time"
)
FIELDS = ("owner", "agent", "name", "input", "cron", "timezone", "enabled")


class ScheduleForm(forms.ModelForm[Schedule]):
    """The expression and zone checked as the API checks them, as form errors."""

    class Meta:
        model = Schedule
        fields = FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("cron") and data.get("timezone"):
            try:
                data["cron"], _ = services.schedule_check(data["cron"], data["timezone"])
            except UAIError as exc:
                raise ValidationError(exc.detail) from None
        return data


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin[Schedule]):
    form = ScheduleForm
    formfield_overrides = JSON_FORM_FIELDS
    list_display = (
        "short_id",
        "name",
        "owner",
        "agent",
        "cron",
        "timezone",
        "enabled",
        "next_fire_at",
        "last_fired_at",
        "last_run_link",
        "last_error",
    )
    list_filter = ("enabled", "agent", "timezone")
    search_fields = ("id", "name", "cron", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    fields = (*FIELDS, "next_fire_at", "last_fired_at", "last_run_link", "last_error", "created_at")
    readonly_fields = ("next_fire_at", "last_fired_at", "last_run_link", "last_error", "created_at")
    inlines = [FiringInline]
    actions = ["enable", "disable", "run_now"]

    class Media:
        css = {"all": (IDS_CSS,)}

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Schedule) -> SafeString | str:
        return short_id(obj.pk)

    @admin.display(description="last run")
    def last_run_link(self, obj: Schedule) -> SafeString | str:
        if not obj.last_run_id:
            return "-"
        url = reverse("admin:runs_run_change", args=[obj.last_run_id])
        return format_html('<a href="{}">{}</a>', url, short_id(obj.last_run_id))

    def get_inlines(self, request: HttpRequest, obj: Schedule | None) -> Any:
        return [] if obj is None else self.inlines  # a new schedule has no firings

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changes = {f: data[f] for f in form.changed_data if f in services.EDITABLE}
            if changes:
                services.schedule_update(schedule=obj, changes=changes)
            return
        created = services.schedule_create(
            owner_id=data["owner"].pk,
            agent=data["agent"],
            input=data.get("input"),
            cron_expression=data["cron"],
            tz_name=data["timezone"],
            name=data.get("name") or "",
            enabled=data.get("enabled", True),
        )
        obj.pk = created.pk  # the admin's "added" message and redirect name the new schedule
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Schedule) -> None:
        services.schedule_delete(schedule=obj)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[Schedule], enabled: bool) -> None:
        count = 0
        for schedule in queryset:
            if schedule.enabled != enabled:
                services.schedule_update(schedule=schedule, changes={"enabled": enabled})
                count += 1
        word = "Enabled" if enabled else "Disabled"
        self.message_user(request, f"{word} {count} schedule(s).", messages.SUCCESS)

    @admin.action(description="Enable (next firing worked out from now)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable (no more firings)", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        self._set_enabled(request, queryset, False)

    @admin.action(description="Run now (one run each, outside the schedule)", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        firings = [services.schedule_fire_now(schedule=s) for s in queryset]
        made = sum(1 for f in firings if f.run_id)
        errors = [f.error for f in firings if f.error]
        self.message_user(request, f"Started {made} run(s).", messages.SUCCESS)
        for error in errors:
            self.message_user(request, error, messages.WARNING)
