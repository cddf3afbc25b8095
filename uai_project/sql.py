"""Helpers for UAI's few hand-written statements."""

from __future__ import annotations

from django.db import models


def columns(model: type[models.Model], alias: str = "") -> str:
    """Every column of ``model``, spelled out (``alias."col", …``) where ``*`` would do.

    Statements are prepared (``UAI_DB_PREPARED_STATEMENTS``), and a prepared ``*`` keeps the
    columns the table had then: once a migration adds one while servers run, PostgreSQL refuses
    the statement ("cached plan must not change result type") on every connection that had it.
    """
    prefix = f"{alias}." if alias else ""
    return ", ".join(f'{prefix}"{field.column}"' for field in model._meta.concrete_fields)
