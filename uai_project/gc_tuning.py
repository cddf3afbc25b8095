"""The garbage collector of a server or worker process, tuned for the garbage requests leave.

Every request leaves ~180 objects in reference cycles that only the cycle collector frees:
DRF's ``Request`` (its parser context points back at it) with the view, parsers and
serializers, the ``DatabaseWrapper`` Django makes for each request's context, the traceback of
the disconnect listener Django's ASGI handler cancels. They are still alive when the young
generations are collected during the request, so they reach the oldest generation, which
Python collects only after ~70,000 net allocations: measured here, ~45,000 such objects
(~7 MiB) waited between full collections, and each full collection also walked the ~135,000
objects start-up built, pausing the process 150–190 ms. That garbage's high-water mark was
most of the server's memory growth under load (+14 MiB over 10,000 REST turns at c=32).

So once start-up is done: freeze what it built (``gc.freeze``: the collector skips it from
then on) and collect the oldest generation with every middle one (``UAI_GC_THRESHOLDS``,
default ``700,10,1``; Python's is ``700,10,10``). A full collection then walks only what was
made since and takes 10–20 ms; the growth over those 10,000 turns is about half, and turns/s
at c=32 ~5 % higher. Python still skips a full collection until the objects waiting for one
are a quarter of those that survived the last, so a process holding many live objects (5,000
idle WebSockets) is not walked over and over.
"""

from __future__ import annotations

import gc

from django.conf import settings


def tune() -> None:
    """Freeze the objects start-up made and set ``UAI_GC_THRESHOLDS`` (empty: Python's own)."""
    thresholds = settings.UAI_GC_THRESHOLDS
    if not thresholds:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
