"""Admin helpers shared by the apps."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.cache import never_cache

from uai_project import parsers
from uai_project.errors import UAIError, json_error


class JSONFormField(forms.JSONField):
    """The admin's JSON field, refusing what the API refuses (nesting past UAI_MAX_JSON_DEPTH, a
    NUL character) as a form error: Django's decoder recursed, and a deep value was a 500."""

    def to_python(self, value: Any) -> Any:
        """The decoded value, once the API's checks passed."""
        if isinstance(value, str) and not self.disabled:
            try:
                parsers.loads(value)
            except UAIError as exc:
                raise ValidationError(exc.detail, code="invalid") from None
            except json.JSONDecodeError:
                pass  # Django's own message, below
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        """What the form shows again: text too deep to decode is shown as it was sent."""
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)


# ``formfield_overrides`` of every admin with an editable JSON field.
JSON_FORM_FIELDS: dict[Any, dict[str, Any]] = {models.JSONField: {"form_class": JSONFormField}}


_M = TypeVar("_M", bound=models.Model)


class ChangedFieldsSaveMixin(admin.ModelAdmin[_M]):
    """Save only the fields the operator changed: counters (``last_seq``) move under the form."""

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        if change:
            fields = [f for f in form.changed_data if f in {fld.name for fld in obj._meta.fields}]
            if fields:
                obj.save(update_fields=[*fields, "updated_at"])
            return
        super().save_model(request, obj, form, change)


class ReadOnlyTabularInline(admin.TabularInline[Any, Any]):
    """Records written by the system (logs, artifacts, messages): shown, never added here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def read_only_inline(
    model: Any,
    *,
    fk_name: str,
    fields: tuple[str, ...],
    ordering: str = "seq",
    bases: tuple[type, ...] = (),
) -> type:
    """A tabular inline that shows records under their chat or run, without editing them.

    ``bases`` are mixins that supply display methods named in ``fields`` (e.g. a preview).
    """
    return type(
        f"{model.__name__}Under{fk_name.title()}Inline",
        (*bases, ReadOnlyTabularInline),
        {
            "model": model,
            "fk_name": fk_name,
            "fields": fields,
            "readonly_fields": fields,
            "extra": 0,
            "can_delete": False,
            "show_change_link": True,
            "ordering": (ordering,),
        },
    )


View = Callable[..., HttpResponseBase]


def staff_view(model_admin: admin.ModelAdmin[Any], view: View) -> View:
    """An extra view of a ModelAdmin, for ``get_urls()``: only for staff who may view the model.

    A visitor who is not signed in gets the admin's login page, like anywhere in the admin; a
    signed-in user who is not staff (or may not view the model) gets 403, never a login loop.
    """

    def permitted(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not model_admin.has_view_permission(request):
            return json_error("You may not view these records.", 403)
        return view(request, *args, **kwargs)

    in_admin = model_admin.admin_site.admin_view(permitted)

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated and not model_admin.admin_site.has_permission(request):
            return json_error("Staff only.", 403)
        return in_admin(request, *args, **kwargs)

    return never_cache(guarded)


LOG_FIELDS = ("seq", "level", "source", "message", "created_at")
ARTIFACT_FIELDS = ("name", "media_type", "size", "origin", "created_at")
