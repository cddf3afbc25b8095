"""``manage.py agents list`` and ``manage.py agents run NAME PROMPT``: the registry from a terminal."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from uai.agents import events, registry
from uai.agents import selectors as agent_selectors
from uai.agents.models import Agent
from uai.agents.protocol import AgentContext, AgentRequest
from uai_project.errors import UAIError


class Command(BaseCommand):
    help = "List the registered agents, or run one against a prompt and print its steps."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="List agents (settings, agents file and admin alike).")
        run = sub.add_parser("run", help="Run an agent here, printing every event.")
        run.add_argument("name")
        run.add_argument("prompt", help="The user's text.")
        run.add_argument("--input", help="A JSON run input (default: the prompt).")
        run.add_argument("--mode", default="", help="Workflow mode, e.g. Actionplan or React.")

    def handle(self, *args: Any, **options: Any) -> None:
        registry.sync_settings_agents()
        if options["action"] == "list":
            for agent in Agent.objects.order_by("name"):
                state = "" if agent.enabled else " (disabled)"
                self.stdout.write(
                    f"{agent.name:<20} {agent.adapter:<13} {agent.target:<40} {agent.source:<8}{state}"
                    f"  {agent.description}"
                )
            return
        try:
            agent = agent_selectors.agent_get(name=options["name"])
            adapter = registry.build_adapter(agent)
        except (UAIError, registry.AgentConfigError) as exc:
            raise CommandError(str(getattr(exc, "detail", exc))) from exc
        run_input: Any = options["prompt"]
        if options["input"]:
            try:
                run_input = json.loads(options["input"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--input is not JSON: {exc}") from exc
        request = AgentRequest(
            input=run_input, text=options["prompt"], mode=options["mode"], options=dict(agent.options or {})
        )
        try:
            asyncio.run(self._run(adapter, request))
        except Exception as exc:
            raise CommandError(f"{agent.name} failed: {type(exc).__name__}: {exc}") from exc

    async def _run(self, adapter: Any, request: AgentRequest) -> None:
        async def ask(question: str, tool_call: Any = None, value: Any = None) -> str:
            self.stdout.write(f"[input required] {question}")
            return await asyncio.to_thread(sys.stdin.readline)

        context = AgentContext(run_id=None, chat_id=None, ask=ask, loop=asyncio.get_running_loop())
        streamed = False
        async for event in adapter.stream(request, context):
            if isinstance(event, events.TextDelta):
                self.stdout.write(event.text, ending="")
                streamed = True
                continue
            if streamed:
                self.stdout.write("")
                streamed = False
            self.stdout.write(describe(event))


def describe(event: events.AgentEvent) -> str:
    """One line (or block) for an event."""
    match event:
        case events.Step():
            return f"[{event.step_type}] {event.content}"
        case events.FinalAnswer():
            return f"[{events.FINAL_ANSWER_STEP}] {event.content}"
        case events.Log():
            return f"[log {event.level}] {event.message}"
        case events.Progress():
            return f"[progress {event.percent:.0f}%] {event.current_step}"
        case events.Artifact():
            size = len(event.content) if event.content is not None else len(json.dumps(event.data))
            return f"[artifact] {event.name} ({event.media_type}, {size} bytes)"
        case events.StateUpdate():
            return f"[state] {json.dumps(event.state)}"
        case events.Stats():
            return f"[stats] {json.dumps(event.data)}"
    return repr(event)
