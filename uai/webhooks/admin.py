"""Admin: webhooks with their deliveries (every attempt and its outcome) inline, read only; the
endpoints users registered, with their deliveries inline, each delivery with its attempts and
"Redeliver".

A webhook made here goes through ``services.webhook_create`` (the URL checked against
UAI_WEBHOOK_ALLOWED_URLS, its delivery job deferred); once made, it is not edited: delete it, or
deliver a failed one again from its cursor ("Deliver again").
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from uai.webhooks import formats, services
from uai.webhooks.models import Delivery, Endpoint, EndpointDelivery, Webhook
from uai_project.admin_ids import IDS_CSS, short_id
from uai_project.admin_utils import read_only_inline
from uai_project.errors import UAIError

DELIVERY_FIELDS = ("created_at", "seq", "index", "attempt", "outcome", "status_code", "duration_ms", "error")
DeliveryInline = read_only_inline(Delivery, fk_name="webhook", fields=DELIVERY_FIELDS, ordering="id")
ATTEMPT_FIELDS = ("created_at", "attempt", "outcome", "status_code", "duration_ms", "error", "response")
AttemptInline = read_only_inline(Delivery, fk_name="endpoint_delivery", fields=ATTEMPT_FIELDS, ordering="id")
EndpointDeliveryInline = read_only_inline(
    EndpointDelivery,
    fk_name="endpoint",
    fields=("created_at", "event_type", "status", "tries", "error", "run_id"),
    ordering="-created_at",
)
CREATE_FIELDS = (
    "owner",
    "run",
    "url",
    "format",
    "name",
    "token",
    "secret",
    "auth_scheme",
    "auth_credentials",
)


class WebhookForm(forms.ModelForm[Webhook]):
    """The add form: the checks of ``webhook_create`` as form errors."""

    format = forms.ChoiceField(choices=())

    class Meta:
        model = Webhook
        fields = CREATE_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["format"].choices = [(name, name) for name in formats.format_names()]  # type: ignore[attr-defined]  # a ChoiceField

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        try:
            services.check_url(url)
        except UAIError as exc:
            raise ValidationError(exc.detail) from None
        return url


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin[Webhook]):
    list_display = (
        "short_id",
        "name",
        "url",
        "format",
        "short_run",
        "owner",
        "status",
        "cursor",
        "attempts",
        "created_at",
    )
    list_filter = ("status", "format", "created_at")
    search_fields = ("id", "name", "url", "run__id")
    raw_id_fields = ("owner", "run")
    inlines = [DeliveryInline]
    actions = ["deliver_again"]
    readonly_fields = (
        "id",
        "owner",
        "run",
        "url",
        "format",
        "name",
        "has_token",
        "has_secret",
        "auth_scheme",
        "status",
        "error",
        "cursor",
        "job_id",
        "created_at",
    )

    class Media:
        css = {"all": (IDS_CSS,)}

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Webhook) -> SafeString | str:
        return short_id(obj.pk)

    @admin.display(description="run", ordering="run")
    def short_run(self, obj: Webhook) -> SafeString | str:
        return short_id(obj.run_id)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Webhook]:
        # One query for the list's attempt counts, not one per row.
        return (
            super().get_queryset(request).select_related("owner").annotate(attempt_count=Count("deliveries"))
        )

    def get_form(
        self, request: HttpRequest, obj: Webhook | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = WebhookForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Webhook | None = None) -> Any:
        return CREATE_FIELDS if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Webhook | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Webhook | None) -> Any:
        return [] if obj is None else self.inlines

    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        if change:
            return  # nothing of a webhook is edited here
        data = form.cleaned_data
        created = services.webhook_create(
            owner_id=data["owner"].pk,
            run=data["run"],
            url=data["url"],
            format=data["format"],
            name=data.get("name") or "",
            token=data.get("token") or "",
            secret=data.get("secret") or "",
            auth_scheme=data.get("auth_scheme") or "",
            auth_credentials=data.get("auth_credentials") or "",
        )
        obj.pk = created.pk  # the admin's "added" message and redirect name the new webhook
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Webhook) -> None:
        services.webhook_delete(webhook=obj)

    @admin.display(description="delivered up to")
    def cursor(self, obj: Webhook) -> str:
        return f"#{obj.delivered_seq}.{obj.delivered_index}"

    @admin.display(description="attempts", ordering="attempt_count")
    def attempts(self, obj: Webhook) -> int:
        return int(getattr(obj, "attempt_count", 0))

    @admin.display(description="token", boolean=True)
    def has_token(self, obj: Webhook) -> bool:
        return bool(obj.token)

    @admin.display(description="own secret", boolean=True)
    def has_secret(self, obj: Webhook) -> bool:
        return bool(obj.secret)

    @admin.action(description="Deliver again (failed webhooks, from their cursor)", permissions=["change"])
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        resumed = sum(services.webhook_resume(webhook_id=w.pk) for w in queryset)
        self.message_user(request, f"Delivering {resumed} webhook(s) again.", messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    """Every attempt of every webhook, read only: filter the failures across webhooks."""

    list_display = (
        "created_at",
        "webhook",
        "endpoint_delivery",
        "seq",
        "index",
        "attempt",
        "outcome",
        "status_code",
        "duration_ms",
    )
    list_filter = ("outcome", "created_at")
    search_fields = ("webhook__id", "webhook__url", "endpoint_delivery__id", "error")
    list_select_related = ("webhook", "endpoint_delivery")
    fields = ("webhook", "endpoint_delivery", *DELIVERY_FIELDS, "response")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin[Endpoint]):
    """The endpoints users registered (``/webhooks``): their filters, newest deliveries inline.
    Users make them through the API; here an operator can disable, describe or delete one."""

    list_display = (
        "short_id",
        "url",
        "owner",
        "enabled",
        "event_types",
        "agents",
        "description",
        "created_at",
    )
    list_filter = ("enabled", "created_at")
    search_fields = ("id", "url", "description", "owner__username")
    list_select_related = ("owner",)
    inlines = [EndpointDeliveryInline]
    fields = (
        "id",
        "owner",
        "url",
        "description",
        "enabled",
        "event_types",
        "agents",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = tuple(f for f in fields if f not in ("description", "enabled"))

    class Media:
        css = {"all": (IDS_CSS,)}

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Endpoint) -> SafeString | str:
        return short_id(obj.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Endpoint, form: Any, change: bool) -> None:
        fields = {f: form.cleaned_data[f] for f in form.changed_data if f in ("description", "enabled")}
        services.endpoint_update(endpoint=obj, fields=fields)  # drops the owner's cached endpoints

    def delete_model(self, request: HttpRequest, obj: Endpoint) -> None:
        services.endpoint_delete(endpoint=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> None:
        for endpoint in queryset:
            services.endpoint_delete(endpoint=endpoint)


@admin.register(EndpointDelivery)
class EndpointDeliveryAdmin(admin.ModelAdmin[EndpointDelivery]):
    """Every event sent to an endpoint, with every attempt inline (status, answer, error,
    duration); "Redeliver" sends delivered or failed ones again."""

    list_display = ("short_id", "event_type", "endpoint", "status", "tries", "run_id", "created_at")
    list_filter = ("status", "event_type", "created_at")
    search_fields = ("id", "endpoint__id", "endpoint__url", "run_id", "error")
    list_select_related = ("endpoint",)
    inlines = [AttemptInline]
    actions = ["redeliver"]
    fields = (
        "id",
        "endpoint",
        "event_type",
        "status",
        "tries",
        "error",
        "run_id",
        "payload",
        "job_id",
        "created_at",
    )
    readonly_fields = fields

    class Media:
        css = {"all": (IDS_CSS,)}

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: EndpointDelivery) -> SafeString | str:
        return short_id(obj.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(
        description="Redeliver (delivered or failed ones: a new set of attempts)", permissions=["change"]
    )
    def redeliver(self, request: HttpRequest, queryset: QuerySet[EndpointDelivery]) -> None:
        sent = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                services.delivery_redeliver(delivery=delivery)
                sent += 1
            except UAIError as exc:
                self.message_user(request, f"{delivery.pk}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"Redelivering {sent} delivery(ies).", messages.SUCCESS)
