"""A plain-Python agent: plans, reports progress, asks when unsure, streams its answer word by word."""

import asyncio

from uai.agents import events


async def spell(request, context):
    words = request.text.split() or [await context.ask("What should I spell out?")]
    yield events.Step(events.PLANNING_STEP, f"Spell out {len(words)} word(s), one per second.")
    for n, word in enumerate(words, 1):
        await asyncio.sleep(1)  # stands for real work; a cancel stops the run here
        context.progress(100 * n / len(words), current_step=f"word {n}")
        yield f"{'-'.join(word.upper())} "
