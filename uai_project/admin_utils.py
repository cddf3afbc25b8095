"""Admin helpers shared by the apps."""

from __future__ import annotations

from typing import Any

from django.contrib import admin


class ChangedFieldsSaveMixin(admin.ModelAdmin):
    """Save only the fields the operator changed: counters (``last_seq``) move under the form."""

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        if change:
            fields = [f for f in form.changed_data if f in {fld.name for fld in obj._meta.fields}]
            if fields:
                obj.save(update_fields=[*fields, "updated_at"])
            return
        super().save_model(request, obj, form, change)


def read_only_inline(model: Any, *, fk_name: str, fields: tuple[str, ...], ordering: str = "seq") -> type:
    """A tabular inline that shows records under their chat or run, without editing them."""
    return type(
        f"{model.__name__}Under{fk_name.title()}Inline",
        (admin.TabularInline,),
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


LOG_FIELDS = ("seq", "level", "source", "message", "created_at")
ARTIFACT_FIELDS = ("name", "media_type", "size", "origin", "created_at")
