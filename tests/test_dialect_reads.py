"""Dialects read through ``selectors``: no dialect module runs a query of its own.

A new dialect copies what the others do, so the rule is checked on their source: no model manager
(``Chat.objects``), no queryset method, no relation that loads on access (``run.chat``,
``chat.runs…``), no cursor. What a dialect needs to read is a selector, where it can be made
fast once and counted (tests/test_query_counts.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DIALECTS = Path(__file__).resolve().parent.parent / "uai" / "dialects"

# Methods only a queryset, a manager or a model instance has (``get``, ``update``, ``count`` and
# ``all`` are dicts' and lists' too: the ``objects`` and relation rules catch those).
QUERY_METHODS = {
    "filter",
    "exclude",
    "order_by",
    "values_list",
    "select_related",
    "prefetch_related",
    "annotate",
    "aggregate",
    "exists",
    "first",
    "last",
    "raw",
    "get_or_create",
    "update_or_create",
    "bulk_create",
    "bulk_update",
    "refresh_from_db",
    "distinct",
    "only",
    "defer",
    "in_bulk",
    "latest",
    "earliest",
    "select_for_update",
    "save",
    "cursor",
}
QUERY_METHODS |= {f"a{name}" for name in QUERY_METHODS} | {"aget", "acount", "aupdate", "adelete", "acreate"}


def _relations() -> tuple[set[str], set[str]]:
    """The names of UAI models' relations: forward ones (``run.chat`` loads the chat) and the
    reverse accessors (``chat.runs`` is a manager). A name that is a plain field elsewhere
    (``Log.message`` is text, ``Artifact.message`` a relation) cannot be told apart here; the
    query counting tests catch a lazy load of it at run time."""
    from django.apps import apps

    forward: set[str] = set()
    reverse: set[str] = set()
    plain: set[str] = set()
    for model in apps.get_models():
        if not model.__module__.startswith("uai."):
            continue
        for field in model._meta.get_fields():
            if not field.is_relation:
                plain.add(field.name)
            elif field.auto_created and not field.concrete:
                reverse.add(field.get_accessor_name())  # type: ignore[union-attr]
            else:
                forward.add(field.name)
    # ``user``: uai.limits' UserLimits.user, and every view's ``request.user`` (Django's, loaded
    # by authentication before the view runs): the dialects never touch a limits row.
    return forward - plain - {"user"}, reverse


def queries_in(source: str, filename: str = "<dialect>") -> list[str]:
    """Where ``source`` would query on its own, as ``file:line: what``."""
    forward, reverse = _relations()
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        what = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in QUERY_METHODS:
                what = f"a queryset method (.{node.func.attr}())"
        elif isinstance(node, ast.Attribute):
            if node.attr == "objects":
                what = "a model manager (.objects)"
            elif node.attr in forward:
                what = f"a relation loaded on access (.{node.attr})"
            elif isinstance(node.value, ast.Attribute) and node.value.attr in reverse:
                what = f"a related manager (.{node.value.attr}.{node.attr})"
        if what:
            found.append(f"{filename}:{node.lineno}: {what}")
    return found


@pytest.mark.parametrize("path", sorted(DIALECTS.glob("*.py")), ids=lambda p: p.name)
def test_dialect_reads__no_dialect_module_queries_on_its_own(path: Path) -> None:
    assert queries_in(path.read_text(), path.name) == []


@pytest.mark.parametrize(
    "line",
    [
        "Chat.objects.filter(owner=user)",
        "chat = Chat.objects.get(pk=chat_id)",
        "run.messages.filter(step_type='FinalAnswerStep').first()",
        "chat.runs.all()",
        "message.files.count()",
        "chat = run.chat",
        "queryset.order_by('-created_at')",
        "rows = qs.values_list('id', flat=True)",
        "chat.refresh_from_db()",
        "await Message.objects.afirst()",
        "connection.cursor()",
    ],
)
def test_dialect_reads__the_check_finds_a_query(line: str) -> None:
    source = f"async def view(request, chat, run, message, queryset, qs, connection):\n    {line}\n"
    assert queries_in(source), line


@pytest.mark.parametrize(
    "line",
    [
        "selectors.chat_list(user=request.user)",
        "request.query_params.get('after')",
        "self.message_ids.update(found)",
        "held.messages",
        "run.chat_id",
        "services.chat_delete(chat=chat)",
    ],
)
def test_dialect_reads__the_check_lets_reads_through_selectors_pass(line: str) -> None:
    source = f"def view(request, self, held, run, services, chat, found):\n    {line}\n"
    assert queries_in(source) == [], line
