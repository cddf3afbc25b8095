"""OpenTelemetry traces of a turn: the request, its job, the agent, the writes of its events.

Off unless OpenTelemetry's variables configure an exporter (settings: ``UAI_TRACING``); then
every process (server, ``procrastinate worker``) sets up the SDK at start (``setup``), Django's
and psycopg's instrumentations make the request's span and one per SQL statement, and the
request's trace context goes with the job it defers (``traceparent``, W3C Trace Context, in the
job's arguments), so the job's span — and under it the agent's and each event write's — belong
to the request's trace, whichever machine runs it. With tracing off nothing here imports
OpenTelemetry, and the job's arguments are as before.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

TRACER_NAME = "uai"
_tracer: Any = None  # the SDK's tracer once set up


def setup() -> None:
    """Set up the SDK, its exporter and the instrumentations (once, and only when configured)."""
    global _tracer
    if not settings.UAI_TRACING or _tracer is not None:
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": settings.UAI_TRACES_SERVICE_NAME}))
    exporter: SpanExporter
    if settings.UAI_TRACES_EXPORTER == "console":
        # On stderr: a command's own output (create_token's token) stays alone on stdout.
        exporter = ConsoleSpanExporter(out=sys.stderr)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # (its endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # Before Django loads its middleware (this runs in AppConfig.ready): the request's span.
    DjangoInstrumentor().instrument(tracer_provider=provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    _instrument_frameworks(provider)
    _tracer = trace.get_tracer(TRACER_NAME)


# Agent frameworks' own instrumentations, used when installed: (module, class).
FRAMEWORK_INSTRUMENTORS = (
    ("opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor"),  # the openai client
    ("opentelemetry.instrumentation.langchain", "LangchainInstrumentor"),  # LangGraph, LangChain
    ("opentelemetry.instrumentation.openai_agents", "OpenAIAgentsInstrumentor"),
    ("openinference.instrumentation.smolagents", "SmolagentsInstrumentor"),
)


def _instrument_frameworks(provider: Any) -> None:
    import importlib
    import importlib.util

    for module_name, class_name in FRAMEWORK_INSTRUMENTORS:
        try:
            if importlib.util.find_spec(module_name) is None:
                continue
        except ModuleNotFoundError:  # (its parent package is not there either)
            continue
        try:
            getattr(importlib.import_module(module_name), class_name)().instrument(tracer_provider=provider)
        except Exception:  # another version's API: UAI's own spans go on without it
            logger.warning("could not instrument %s", module_name, exc_info=True)
    if importlib.util.find_spec("pydantic_ai") is not None:
        # Pydantic AI speaks OpenTelemetry itself: its agents' runs, model calls and tools.
        from pydantic_ai import Agent

        Agent.instrument_all()


def traceparent() -> str:
    """The current span's context as a W3C ``traceparent`` ("" when tracing is off or no span)."""
    if _tracer is None:
        return ""
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent", "")


@contextlib.contextmanager
def job_span(name: str, parent: str, **attributes: Any) -> Iterator[None]:
    """A job's span, a child of the request that deferred it (``parent``: its ``traceparent``)."""
    if _tracer is None:
        yield
        return
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    context = extract({"traceparent": parent}) if parent else None
    with _tracer.start_as_current_span(
        name, context=context, kind=trace.SpanKind.CONSUMER, attributes=_clean(attributes)
    ):
        yield


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """A span under the current one (nothing when tracing is off)."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(name, attributes=_clean(attributes)):
        yield


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {f"uai.{key}": value for key, value in attributes.items() if value is not None}
