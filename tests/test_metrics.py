"""Metrics (GET /metrics, Prometheus) and traces (OpenTelemetry, OTLP/HTTP), against live servers.

The shared live server has the defaults: metrics on, no token (loopback only), no traces. A
server of this module's own (and, in distributed mode, its worker) runs with a metrics token,
traces exported to an OTLP/HTTP receiver here, and — distributed — prometheus-client's
multiprocess mode, so the counts of the worker's process show on the server's /metrics.
"""

from __future__ import annotations

import gzip
import http.server
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import psycopg.conninfo
import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect as ws_connect

from tests.conftest import ROOT, process_env, serve_until_done, token_of, wait_for, wait_run, ws_url
from tests.receivers import Receiver

TOKEN = "metrics-" + uuid.uuid4().hex

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, token: str | None = TOKEN, **params: Any) -> Samples:
    """Every sample of one scrape, by (name, labels)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url + "/metrics", headers=headers, params=params, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- an OTLP/HTTP receiver ------------------------------------------------------------------------------


class Collector:
    """Receives OTLP/HTTP trace exports (protobuf) on loopback and keeps every span."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                with collector.lock:
                    for resource_spans in request.resource_spans:
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                collector.spans.append(
                                    {
                                        "name": span.name,
                                        "trace_id": span.trace_id.hex(),
                                        "span_id": span.span_id.hex(),
                                        "parent_id": span.parent_span_id.hex(),
                                        "start": span.start_time_unix_nano,
                                        "end": span.end_time_unix_nano,
                                        "attributes": {
                                            a.key: a.value.string_value or a.value.int_value
                                            for a in span.attributes
                                        },
                                    }
                                )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of_trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    made = Collector()
    yield made
    made.close()


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _server_connection() -> str:
    """A connection string to the test database's server, to its maintenance database."""
    db = settings.DATABASES["default"]
    return psycopg.conninfo.make_conninfo(
        host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
        password=db["PASSWORD"] or None, dbname="postgres",
    )  # fmt: skip


@pytest.fixture(scope="module")
def observed_env(
    django_db_setup: Any, collector: Collector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The environment of a stack with a database of its own (no other test's worker takes its
    jobs, so every count is this module's), a metrics token, traces to ``collector``, an agent
    on a queue nobody serves, and — distributed — prometheus-client's multiprocess mode."""
    name = f"{settings.DATABASES['default']['NAME']}_observed"
    with psycopg.connect(_server_connection(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    agents = tmp_path_factory.mktemp("agents") / "agents.toml"
    agents.write_text(
        '[agents.parked]\nadapter = "python"\ntarget = "uai.agents.builtin.echo:echo"\nqueue = "nobody-listens"\n'
    )
    extra = {
        "UAI_DATABASE_NAME": name,
        "UAI_AGENTS_FILE": str(agents),
        "UAI_METRICS_TOKEN": TOKEN,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms between exports (the default 5 s)
        "OTEL_SERVICE_NAME": "uai-test",
    }
    if not settings.UAI_EMBEDDED_WORKER:
        extra["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path_factory.mktemp("prometheus"))
    env = process_env(**extra)
    _manage({**env, "OTEL_TRACES_EXPORTER": "none"}, "migrate", "--noinput", "-v0")
    yield env
    with psycopg.connect(_server_connection(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def observed(observed_env: dict[str, str], log_dir: Path) -> Iterator[str]:
    """The observed stack's server (and, distributed, its worker)."""
    yield from serve_until_done("server-observed", "worker-observed", observed_env, log_dir)


@pytest.fixture
def carol(observed: str, observed_env: dict[str, str]) -> Iterator[httpx.Client]:
    """A user of the observed server (made by ``create_token``, in its database)."""
    quiet = {**observed_env, "OTEL_TRACES_EXPORTER": "none"}
    token = _manage(quiet, "create_token", f"carol-{uuid.uuid4().hex[:8]}").strip().splitlines()[-1]
    with httpx.Client(base_url=observed, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        yield client


def make_webhook(env: dict[str, str], run_id: str, url: str) -> None:
    """A webhook on a run of the observed stack (there is no REST route for webhooks)."""
    code = (
        "from uai.runs.models import Run; from uai.webhooks import services; "
        f"run = Run.objects.get(pk='{run_id}'); "
        f"services.webhook_create(owner_id=run.owner_id, run=run, url='{url}', format='uai')"
    )
    _manage({**env, "OTEL_TRACES_EXPORTER": "none"}, "shell", "-c", code)


# --- access ---------------------------------------------------------------------------------------------


def test_metrics__default_server_answers_loopback_without_a_token(live: str) -> None:
    samples = scrape(live, token=None)
    assert ("uai_workers", (("state", "live"),)) in samples
    # a route's requests are counted by the route's name, not its path
    before = value(samples, "uai_http_requests_total", route="healthz", method="GET", status="200")
    assert httpx.get(live + "/healthz").status_code == 200
    after = value(
        scrape(live, token=None), "uai_http_requests_total", route="healthz", method="GET", status="200"
    )
    assert after == before + 1


@pytest.mark.filterwarnings("ignore:No directory at")  # WhiteNoise: no collectstatic in-process
def test_metrics__refused_outside_the_allowed_networks(client: Any) -> None:
    """Without a token only loopback may scrape (the test process's settings: the defaults)."""
    assert settings.UAI_METRICS_TOKEN == ""
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403
    assert "UAI_METRICS_ALLOWED_NETWORKS" in response.json()["detail"]


def test_metrics__token_bad_input_and_methods(observed: str) -> None:
    missing = httpx.get(observed + "/metrics")
    assert missing.status_code == 401 and "UAI_METRICS_TOKEN" in missing.json()["detail"]
    wrong = httpx.get(observed + "/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["code"]
    basic = httpx.get(observed + "/metrics", headers={"Authorization": "Basic " + TOKEN})
    assert basic.status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    unknown = httpx.get(observed + "/metrics", params={"format": "json"}, headers=auth)
    assert unknown.status_code == 400 and "'format'" in unknown.json()["detail"]
    bad_name = httpx.get(observed + "/metrics", params={"name[]": "no spaces"}, headers=auth)
    assert bad_name.status_code == 400 and "not a metric name" in bad_name.json()["detail"]
    posted = httpx.post(observed + "/metrics", headers=auth)
    assert posted.status_code == 405 and "GET" in posted.headers["allow"]
    # name[] keeps only those metrics; OpenMetrics when asked for
    only = scrape(observed, **{"name[]": ["uai_workers"]})
    assert only and {name for name, _ in only} == {"uai_workers"}
    open_metrics = httpx.get(
        observed + "/metrics", headers={**auth, "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF")


# --- what is counted ------------------------------------------------------------------------------------


def test_metrics__requests_turns_runs_queues_workers_streams_webhooks(
    carol: httpx.Client, observed: str, observed_env: dict[str, str], receiver_factory: Any
) -> None:
    before = scrape(observed)
    # two turns that succeed, one that fails (REST, seed 000)
    chat = carol.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    for text in ("2+3", "4*5"):
        assert carol.post(f"/chat/{chat}", json={"text": text}).status_code == 200
    failing = carol.post("/chat/", json={"agent": "fail"}).json()["session_id"]
    assert (
        carol.post(f"/chat/{failing}", json={"text": "go"}).status_code == 200
    )  # (the answer says it failed)
    # a run that is cancelled, and one whose webhook's first POST fails (then it is delivered)
    slow = carol.post("/run/", json={"agent": "slow", "input": {"steps": 100, "delay": 0.05}}).json()[
        "task_id"
    ]
    wait_run(carol, slow, "running")
    assert carol.delete(f"/run/{slow}").status_code == 200
    receiver: Receiver = receiver_factory(lambda n: 500 if n == 1 else "ok")
    echo = carol.post("/run/", json={"agent": "echo", "input": "hi"}).json()["task_id"]
    make_webhook(observed_env, echo, receiver.url)
    wait_run(carol, echo, "succeeded")
    # a job no worker takes (its agent's queue): its queue's depth and age
    parked = carol.post("/run/", json={"agent": "parked", "input": "hi"}).json()["task_id"]
    time.sleep(0.3)

    # every event of the echo run POSTed: the last is its final status
    wait_for(lambda: receiver.requests and b'"succeeded"' in receiver.requests[-1]["body"], timeout=15)
    posts = len(receiver.requests)

    def delivered() -> Samples | None:
        now = scrape(observed)
        done = value(now, "uai_webhook_deliveries_total", outcome="delivered") - value(
            before, "uai_webhook_deliveries_total", outcome="delivered"
        )
        return now if done >= posts - 1 else None

    after = wait_for(delivered, timeout=15)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("uai_http_requests_total", route="chat-detail", method="POST", status="200") == 3
    assert delta("uai_http_requests_total", route="chat-list", method="POST", status="201") == 2
    assert delta("uai_http_requests_total", route="run-detail", method="DELETE", status="200") == 1
    assert delta("uai_http_request_duration_seconds_count", route="chat-detail", method="POST") >= 3
    assert delta("uai_run_duration_seconds_count", kind="turn", status="succeeded") == 2
    assert delta("uai_run_duration_seconds_count", kind="turn", status="failed") == 1
    assert delta("uai_run_duration_seconds_count", kind="task", status="cancelled") == 1
    assert delta("uai_run_duration_seconds_count", kind="task", status="succeeded") == 1
    assert delta("uai_run_duration_seconds_sum", kind="turn", status="succeeded") > 0
    # a turn took less than 5 s: counted in that bucket
    assert delta("uai_run_duration_seconds_bucket", kind="turn", status="succeeded", le="5.0") == 2
    assert delta("uai_webhook_deliveries_total", outcome="retrying") == 1
    assert delta("uai_webhook_deliveries_total", outcome="delivered") == posts - 1 >= 3
    assert delta("uai_webhook_delivery_duration_seconds_count") == posts
    assert value(after, "uai_queue_jobs", queue="nobody-listens", state="ready") == 1
    assert value(after, "uai_queue_oldest_ready_age_seconds", queue="nobody-listens") >= 0.2
    assert ("uai_queue_jobs", (("queue", "turns"), ("state", "ready"))) in after  # served, shown at 0
    assert value(after, "uai_workers", state="live") >= 1
    ages = [v for (name, _), v in after.items() if name == "uai_worker_heartbeat_age_seconds"]
    assert ages and min(ages) < float(observed_env["UAI_STALLED_WORKER_SECONDS"])
    assert carol.delete(f"/run/{parked}").status_code == 200
    assert value(scrape(observed), "uai_queue_jobs", queue="nobody-listens", state="ready") == 0

    # live streams: an SSE stream and a WebSocket, counted while open
    def live(protocol: str) -> float:
        return value(scrape(observed), "uai_live_connections", protocol=protocol)

    assert live("sse") == 0 and live("websocket") == 0
    with carol.stream("GET", f"/chat/{chat}/stream", timeout=30) as stream:
        assert stream.status_code == 200
        assert live("sse") == 1
    wait_for(lambda: live("sse") == 0, timeout=10)
    with ws_connect(ws_url(observed, f"/chat/{chat}?token={token_of(carol)}")):
        assert live("websocket") == 1  # (counted as it was accepted, before the handshake's answer)
    wait_for(lambda: live("websocket") == 0, timeout=10)


# --- traces ------------------------------------------------------------------------------------------------


def test_traces__one_trace_from_the_request_through_the_job_and_agent_to_the_last_event(
    carol: httpx.Client, collector: Collector
) -> None:
    chat = carol.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    answer = carol.post(f"/chat/{chat}", json={"text": "2+3*4"})
    assert answer.status_code == 200
    run_id = answer.json()["messages"][0]["run_id"]

    def job() -> dict[str, Any] | None:
        with collector.lock:
            found = [
                s
                for s in collector.spans
                if s["name"] == "uai.run_agent" and s["attributes"].get("uai.run_id") == run_id
            ]
        return found[0] if found else None

    job_span = wait_for(job, timeout=15)

    def whole_trace() -> list[dict[str, Any]] | None:
        spans = collector.of_trace(job_span["trace_id"])
        names = {s["name"] for s in spans}
        ids = {s["span_id"] for s in spans}
        return spans if {"uai.agent", "uai.run_finish"} <= names and job_span["parent_id"] in ids else None

    spans = wait_for(whole_trace, timeout=15)
    by_id = {s["span_id"]: s for s in spans}
    # the request: the server's span of POST /chat/{id}, the root of the trace
    request = by_id[job_span["parent_id"]]
    assert request["parent_id"] == ""
    assert request["name"].startswith("POST"), request
    assert (
        request["attributes"].get("http.response.status_code", request["attributes"].get("http.status_code"))
        == 200
    )
    # the job, under it the agent, the writes of its events and the run's end (its last event)
    agent = next(s for s in spans if s["name"] == "uai.agent")
    assert agent["parent_id"] == job_span["span_id"]
    assert agent["attributes"]["uai.agent"] == "steps"
    writes = [s for s in spans if s["name"] == "uai.run_apply"]
    assert writes and all(by_id[s["parent_id"]]["name"] in ("uai.agent", "uai.run_agent") for s in writes)
    finish = next(s for s in spans if s["name"] == "uai.run_finish")
    assert finish["parent_id"] == job_span["span_id"]
    assert finish["end"] >= max(s["end"] for s in writes)
    # (its span ends once the event is published, a moment after the waiting request has answered)
    assert request["start"] <= job_span["start"] and finish["start"] <= request["end"]
    # psycopg's spans: the statements of the request and of the job, in the same trace
    statements = [s for s in spans if s["attributes"].get("db.system") == "postgresql"]
    assert any(by_id.get(s["parent_id"], {}).get("name") == "uai.run_finish" for s in statements)
    assert any(s["parent_id"] == request["span_id"] for s in statements)


def test_traces__a_sessionless_call_is_traced_from_its_request_to_its_job(
    carol: httpx.Client, collector: Collector
) -> None:
    """Seed 001's POST /agent/run stores nothing: its job's span still joins the request's trace."""
    answer = carol.post("/agent/run", json={"task": "2+3*4", "agent": "steps"})
    assert answer.status_code == 200, answer.text

    def joined() -> tuple[dict[str, Any], dict[str, Any]] | None:
        with collector.lock:
            spans = list(collector.spans)
        by_id = {s["span_id"]: s for s in spans}
        for job in spans:
            parent = by_id.get(job["parent_id"])
            if job["name"] == "uai.run_ephemeral" and parent is not None and "agent/run" in parent["name"]:
                return parent, job
        return None

    request, job = wait_for(joined, timeout=15)
    assert request["trace_id"] == job["trace_id"] and request["parent_id"] == ""
    assert job["attributes"]["uai.agent"] == "steps"
    assert request["start"] <= job["start"] and job["end"] <= request["end"]
