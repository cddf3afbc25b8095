"""Admin: a user's own limits, inline on the user's page (Users → a user → "Limits")."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.http import HttpRequest

from uai.limits import selectors
from uai.limits.models import UserLimits

User = get_user_model()


class UserLimitsInline(admin.StackedInline[UserLimits, Any]):
    """The user's limits; an empty field is the setting's default."""

    model = UserLimits
    can_delete = True
    max_num = 1
    extra = 0
    fields = ("rate", "max_concurrent_runs", "max_concurrent_turns", "max_stored_bytes")
    verbose_name_plural = "Limits (empty: the UAI_USER_* defaults)"


class UserWithLimitsAdmin(UserAdmin):  # type: ignore[type-arg]
    """Django's user admin, with the user's limits."""

    inlines = (*UserAdmin.inlines, UserLimitsInline)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Save the limits, and have every process read them anew once they are committed."""
        super().save_related(request, form, formsets, change)
        user_id = form.instance.pk
        transaction.on_commit(lambda: selectors.forget(user_id))


admin.site.unregister(User)
admin.site.register(User, UserWithLimitsAdmin)
