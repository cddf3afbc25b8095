"""What of a turn's final answer its streamed deltas did not carry: one rule for every stream
that sends the deltas as they come and then the rest of the answer (seed 003/004's chunks,
OpenAI's chat completion chunks).

An agent streams text in rounds: the text after a step (a tool call) is a new round, and its
final answer is often the last round's text only — what came before was said already, and is
not said again. An agent that streams nothing has its whole answer as the rest.
"""

from __future__ import annotations

from collections.abc import Sequence


def unsaid(answer: str, streamed: Sequence[str], round_start: int) -> str:
    """The end of ``answer`` the deltas ``streamed`` did not carry (``round_start``: the index
    of the last round's first delta); the whole answer when it does not continue them."""
    so_far = "".join(streamed)
    if answer.startswith(so_far):
        return answer[len(so_far) :]
    last_round = "".join(streamed[round_start:])
    if last_round and answer.startswith(last_round):
        return answer[len(last_round) :]
    return answer
