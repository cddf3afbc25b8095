"""One event schema: every stream event type is an ``EventType`` member with its payload typed once
(``stream_events``), the sink emits only those, and every dialect translates from them.

A dialect that compared an event's type with a string would go on compiling after a typo (or a
renamed type) and silently never match; compared with an ``EventType`` member, the type checker
sees which payload keys it may read. The source checks below read UAI's modules, so a new dialect
is held to it from its first line.
"""

from __future__ import annotations

import ast
import itertools
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from uai.runs import stream_events
from uai.runs.stream_events import EventType

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "uai").rglob("*.py"))
# Dicts with a "type" that are not stream events: seed 001's client frames ("client", "resume"),
# the items and content parts of an OpenAI request (``/v1``: "message", "input_image", …).
NOT_EVENTS = {"frame", "part", "item", "source"}


def _type_subject(node: ast.expr) -> bool:
    """Whether ``node`` reads a "type" key: ``x["type"]`` or ``x.get("type")`` (``x`` not in NOT_EVENTS)."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and node.slice.value == "type"
    ):
        base = node.value
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "type"
    ):
        base = node.func.value
    else:
        return False
    return not (isinstance(base, ast.Name) and base.id in NOT_EVENTS)


def _aliases(scope: ast.AST) -> set[str]:
    """Names bound to an event's type in ``scope``: ``kind = event["type"]``, ``kind, data = …``."""
    names: set[str] = set()
    for node in ast.walk(scope):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            names |= {t.id for t, v in pairs if isinstance(t, ast.Name) and _type_subject(v)}
    return names


def _strings(node: ast.AST) -> list[str]:
    """The string literals ``node`` is, or holds (a tuple, list or set of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for elt in node.elts for s in _strings(elt)]
    return []


class _Comparisons(ast.NodeVisitor):
    """Finds where an event's type is compared with (or matched against) a string literal."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self.aliases: list[set[str]] = [set()]

    def _subject(self, node: ast.expr) -> bool:
        return _type_subject(node) or (isinstance(node, ast.Name) and node.id in self.aliases[-1])

    def _scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.aliases.append(self.aliases[-1] | _aliases(node))
        self.generic_visit(node)
        self.aliases.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _scope

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for left, right in itertools.pairwise(operands):
            for side, other in ((left, right), (right, left)):
                if self._subject(side):
                    self.found += [(node.lineno, s) for s in _strings(other)]
        self.generic_visit(node)

    def visit_Match(self, node: ast.Match) -> None:
        if self._subject(node.subject):
            for case in node.cases:
                for pattern in ast.walk(case.pattern):
                    if isinstance(pattern, ast.MatchValue):
                        self.found += [(pattern.lineno, s) for s in _strings(pattern.value)]
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        # An ORM query on Event.type: ``.filter(type=…)``, ``.exclude(type__in=…)``.
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("filter", "exclude"):
            for keyword in node.keywords:
                if keyword.arg in ("type", "type__in"):
                    self.found += [(keyword.value.lineno, s) for s in _strings(keyword.value)]
        self.generic_visit(node)


def literal_type_comparisons(tree: ast.AST) -> list[tuple[int, str]]:
    """Each (line, string) where an event's type is compared with (or matched against) a string."""
    finder = _Comparisons()
    finder.visit(tree)
    return finder.found


def _source(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _tags_and_payloads() -> Iterator[tuple[EventType, Any]]:
    """Each event of ``StreamEvent``: its type's member and its payload's TypedDict."""
    for event in typing.get_args(stream_events.StreamEvent):
        assert typing.get_origin(event) in (stream_events.Numbered, stream_events.Marker), event
        literal, payload = typing.get_args(event)
        (tag,) = typing.get_args(literal)
        assert typing.is_typeddict(payload), event
        yield tag, payload


def test_event_schema__every_type_has_one_event_with_its_payload() -> None:
    """``StreamEvent`` names each ``EventType`` member once, and so ties it to one payload."""
    tags = [tag for tag, payload in _tags_and_payloads()]
    assert sorted(tags) == sorted(EventType)


def test_event_schema__a_type_read_back_as_a_string_finds_its_member() -> None:
    """Events read back from JSON carry plain strings: they equal, and look up, their members
    (a dialect's table keyed by ``EventType`` serves them)."""
    table = {member: member.name for member in EventType}
    for member in EventType:
        assert str(member) == member.value
        assert table.get(member.value) == member.name


def test_event_schema__no_module_compares_an_event_type_with_a_string() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        + ("" if text in set(EventType) else " (no such event type)")
        for path in SOURCES
        for line, text in literal_type_comparisons(_source(path))
    ]
    assert not found, "compare event types with EventType members, not strings:\n" + "\n".join(found)


def test_event_schema__the_check_finds_string_comparisons() -> None:
    """The check above finds what it is meant to (and leaves the client frames of seed 001 alone)."""
    code = """
def f(event, frame, events):
    kind, data = event["type"], event["data"]
    if kind == "delta" or event.get("type") in ("stauts", EventType.STEP):
        pass
    if "step" != event["type"] and frame.get("type") == "client":
        pass
    match event["type"]:
        case "gap" | EventType.PAST_END:
            pass
    Event.objects.filter(type="log")
    return [e for e in events if e["type"] == EventType.STATUS]
"""
    assert sorted(text for _, text in literal_type_comparisons(ast.parse(code))) == [
        "delta",
        "gap",
        "log",
        "stauts",
        "step",
    ]


def test_event_schema__every_eventtype_attribute_is_a_member() -> None:
    """``EventType.X`` with no member X fails only when its line runs: caught here first."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: EventType.{node.attr}"
        for path in SOURCES
        for node in ast.walk(_source(path))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "EventType"
        and node.attr not in EventType.__members__
        and not node.attr.startswith("_")
    ]
    assert not found, "\n".join(found)


def test_event_schema__the_sink_emits_eventtype_members_only() -> None:
    """Every ``emit`` of the sink names its type as an ``EventType`` member."""
    tree = _source(ROOT / "uai" / "runs" / "sink.py")
    emits = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit"
    ]
    assert emits
    bad = [
        f"sink.py:{node.lineno}: {ast.unparse(node.args[0]) if node.args else '(no type)'}"
        for node in emits
        if not (
            node.args
            and isinstance(node.args[0], ast.Attribute)
            and isinstance(node.args[0].value, ast.Name)
            and node.args[0].value.id == "EventType"
            and node.args[0].attr in EventType.__members__
        )
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.django_db(transaction=True)
def test_event_schema__a_turn_with_every_kind_of_event_publishes_and_stores_schema_types() -> None:
    """At run time too: a turn's steps, deltas, logs, artifacts, stats, progress, state, question,
    answer and end are published and stored with ``EventType`` types, each payload with the keys
    its TypedDict declares."""
    from django.contrib.auth import get_user_model

    from uai.agents import events as ev
    from uai.agents.models import Agent
    from uai.chats.services import chat_create, chat_send
    from uai.runs import services, sink
    from uai.runs.models import Event, Run

    user = get_user_model().objects.create(username="event-schema")
    Agent.objects.create(name="parked-schema", target="uai.agents.builtin.echo:echo", queue="parked-schema")
    chat = chat_create(owner_id=user.pk, agent_name="parked-schema")
    with sink.collect() as published:
        run, _ = chat_send(chat=chat, text="go")
        assert services.run_begin(run_id=str(run.id), attempt=1) is not None
        batch: list[ev.AgentEvent] = [
            ev.Log("first"),
            ev.Step(ev.PLANNING_STEP, "plan"),
            ev.TextDelta("so"),
            ev.Artifact(name="note.json", data={"n": 1}, media_type="application/json"),
            ev.Progress(50, "half"),
            ev.StateUpdate({"k": 1}),
            ev.Stats({"tokens": 3}),
        ]
        services.run_apply(run_id=str(run.id), chat_id=chat.id, owner_id=user.pk, batch=batch)
        services.run_request_input(run_id=str(run.id), prompt="which?")
        run.refresh_from_db()
        chat_send(chat=chat, text="this", answering=run)
        assert services.run_take_input(run_id=str(run.id)) is not None
        services.run_finish(run_id=str(run.id), status=Run.Status.SUCCEEDED, final=ev.FinalAnswer("done"))

    # (The wake-up sent to the executor of a run waiting for input is no stream event.)
    wake = [sink.input_group(run.id)]
    payloads: list[dict[str, Any]] = [payload for groups, payload in published if groups != wake]
    kinds = {p["type"] for p in payloads}
    assert kinds <= set(EventType)
    assert (
        set(EventType)
        - {EventType.MESSAGE_DELETED, EventType.FILE_DELETED, EventType.GAP, EventType.PAST_END}
        <= kinds
    )
    assert set(Event.objects.filter(chat=chat).values_list("type", flat=True)) <= set(EventType)
    payload_of = dict(_tags_and_payloads())
    for p in payloads:
        # (``__required_keys__`` cannot tell ``NotRequired`` in postponed annotations before 3.14.)
        keys = typing.get_type_hints(payload_of[EventType(p["type"])], include_extras=True)
        required = {key for key, hint in keys.items() if typing.get_origin(hint) is not typing.NotRequired}
        assert required <= set(p["data"]) <= set(keys), p
