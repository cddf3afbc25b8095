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
