"""The a2a-sdk peer: an echo AgentExecutor behind the SDK's Starlette JSON-RPC routes.

Runs in the bench's a2a virtual environment (never UAI's): ``python a2a_echo.py PORT``.
"""

from __future__ import annotations

import sys

import uvicorn
from a2a.helpers.proto_helpers import new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from starlette.applications import Starlette


class EchoExecutor(AgentExecutor):
    """Replies with the user's text as one Message (the immediate-response workflow)."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Echo the text back."""
        await event_queue.enqueue_event(
            new_text_message(context.get_user_input(), context_id=context.context_id)
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing to cancel: the echo is immediate."""


def build_app(port: int) -> Starlette:
    """The Starlette app: the agent card and the JSON-RPC endpoint at ``/``."""
    card = AgentCard(
        name="echo",
        description="Echoes the user's text.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(
                url=f"http://127.0.0.1:{port}/", protocol_binding="JSONRPC", protocol_version="1.0"
            )
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="echo", description="Echoes the text.", tags=["echo"])],
    )
    handler = DefaultRequestHandler(
        agent_executor=EchoExecutor(), task_store=InMemoryTaskStore(), agent_card=card
    )
    return Starlette(routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")])


if __name__ == "__main__":
    port = int(sys.argv[1])
    uvicorn.run(build_app(port), host="127.0.0.1", port=port, log_level="warning")
