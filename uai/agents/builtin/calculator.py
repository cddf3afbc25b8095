"""A safe arithmetic calculator: parses with ``ast`` and evaluates numbers and operators only."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

MAX_POWER_EXPONENT = 1000
MAX_EXPRESSION_CHARS = 500
# Whole numbers grow without bound: ((9^999)^999)^999 passes the exponent check three times and
# is ~10^9 digits (hours of one C call, holding the GIL — the server's whole loop in embedded
# mode). 10,000 bits is ~3,000 digits, under Python's 4,300-digit limit for printing one.
MAX_RESULT_BITS = 10_000

_BINARY: dict[type[ast.operator], Callable[[Any, Any], int | float | complex]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], int | float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_EXPRESSION = re.compile(r"[\d.\s+\-*/%()^]+")


class CalculatorError(ValueError):
    """The text holds no arithmetic the calculator can evaluate."""


def find_expression(text: str) -> str:
    """The longest run of arithmetic in ``text`` (``"what is 2+3*4?"`` → ``"2+3*4"``)."""
    candidates = [m.group().strip() for m in _EXPRESSION.finditer(text)]
    candidates = [c for c in candidates if any(ch.isdigit() for ch in c)]
    if not candidates:
        raise CalculatorError("no arithmetic expression found")
    return max(candidates, key=len)


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression; ``^`` means power."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError("expression too long")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise CalculatorError(f"cannot parse {expression!r}") from exc
    return _eval(tree.body)


def _eval(node: ast.AST) -> int | float:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and type(node.value) is not bool
    ):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_POWER_EXPONENT:
                raise CalculatorError("exponent too large")
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() * right > MAX_RESULT_BITS
            ):
                raise CalculatorError("result too large")
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError as exc:
            raise CalculatorError("division by zero") from exc
        except OverflowError as exc:  # floats: 10.0^400
            raise CalculatorError("result too large") from exc
        if isinstance(result, int) and result.bit_length() > MAX_RESULT_BITS:
            raise CalculatorError("result too large")
        if isinstance(result, complex):  # (-1)^0.5
            raise CalculatorError("no real result")
        if isinstance(result, float) and not math.isfinite(result):  # 1e308*10
            raise CalculatorError("result too large")
        return result
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    raise CalculatorError(f"unsupported element {type(node).__name__}")


def format_number(value: int | float) -> str:
    """``14.0`` → ``"14"``; other floats as Python prints them."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
