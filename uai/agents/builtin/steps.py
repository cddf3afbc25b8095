"""``steps``: evaluates the user's arithmetic with a calculator tool, in one of two modes.

- ``Actionplan`` (the default): a PlanningStep with the plan, an ActionStep per planned step,
  then the FinalAnswerStep.
- ``React``: reason–act–observe: ActionSteps "Thought / Action" and "Observation", then the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.builtin import calculator
from uai.agents.protocol import AgentContext, AgentRequest

REACT = "react"


async def steps(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Compute the arithmetic in the user's text, showing the work as steps."""
    try:
        expression = calculator.find_expression(request.text)
    except calculator.CalculatorError:
        yield events.Step(events.PLANNING_STEP, "There is no arithmetic to compute; I will say so.")
        yield events.FinalAnswer(content="I can only compute arithmetic, such as 2+3*4.")
        return
    try:
        result: str | None = calculator.format_number(calculator.evaluate(expression))
        observation = f"calculator({expression!r}) → {result}"
    except calculator.CalculatorError as exc:
        result, observation = None, f"calculator({expression!r}) failed: {exc}"
    tool = {"tool": "calculator", "arguments": {"expression": expression}, "result": result}
    if request.mode.lower() == REACT:
        yield events.Step(
            events.ACTION_STEP,
            f"Thought: the question needs {expression} computed.\nAction: calculator({expression!r})",
            data=tool,
        )
        yield events.Step(events.ACTION_STEP, f"Observation: {observation}", data=tool)
    else:
        yield events.Step(
            events.PLANNING_STEP,
            f"I will evaluate {expression} with the calculator tool, then report the result.",
        )
        yield events.Step(
            events.ACTION_STEP, f"Execution logs:\n{observation}\nLast output: {result}", data=tool
        )
    if result is None:
        yield events.FinalAnswer(content=f"I could not compute {expression}: {observation}")
    else:
        yield events.FinalAnswer(content=result, output=result)
