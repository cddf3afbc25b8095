"""An agent whose module takes seconds to import, as a framework's does on a busy machine
(tests/test_workers.py: the worker's loop goes on meanwhile)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

IMPORT_SECONDS = 3.0
time.sleep(IMPORT_SECONDS)


async def imported(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    yield events.FinalAnswer(content="imported")
