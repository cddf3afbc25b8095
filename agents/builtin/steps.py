"""``steps``: plans, evaluates the user's arithmetic with a calculator tool, then answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agents import events
from agents.builtin import calculator
from agents.protocol import AgentContext, AgentRequest


async def steps(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """PlanningStep → ActionStep (calculator) → FinalAnswerStep."""
    try:
        expression = calculator.find_expression(request.text)
    except calculator.CalculatorError:
        yield events.Step(events.PLANNING_STEP, "There is no arithmetic to compute; I will say so.")
        yield events.FinalAnswer(content="I can only compute arithmetic, such as 2+3*4.")
        return
    yield events.Step(
        events.PLANNING_STEP,
        f"I will evaluate {expression} with the calculator tool, then report the result.",
    )
    try:
        result = calculator.format_number(calculator.evaluate(expression))
        observation = f"calculator({expression!r}) → {result}"
    except calculator.CalculatorError as exc:
        result, observation = None, f"calculator({expression!r}) failed: {exc}"
    yield events.Step(
        events.ACTION_STEP,
        f"Execution logs:\n{observation}\nLast output: {result}",
        data={"tool": "calculator", "arguments": {"expression": expression}, "result": result},
    )
    if result is None:
        yield events.FinalAnswer(content=f"I could not compute {expression}: {observation}")
    else:
        yield events.FinalAnswer(content=result, output=result)
