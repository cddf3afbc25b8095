"""Filters of the run list."""

from __future__ import annotations

import django_filters

from uai.runs.models import Run


class RunFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Run.Status.choices)
    agent = django_filters.CharFilter(field_name="agent_id")
    kind = django_filters.ChoiceFilter(choices=Run.Kind.choices)
    schedule = django_filters.UUIDFilter(field_name="schedule_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["status", "agent", "kind", "schedule"]
