"""A bare Django + DRF project on UAI's stack (psycopg pool, DRF's JSON renderer): one model, one view.

Its database is ``FLOOR_DATABASE`` (a libpq conninfo), on the PostgreSQL server UAI's bench uses.
"""

from __future__ import annotations

import os

import psycopg.conninfo

_db = psycopg.conninfo.conninfo_to_dict(os.environ["FLOOR_DATABASE"])

SECRET_KEY = "bench-floor-not-secret"  # a loopback bench app, never deployed
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.floor_app.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "bench.floor_app"]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db["dbname"],
        "USER": _db.get("user", ""),
        "PASSWORD": _db.get("password", ""),
        "HOST": _db.get("host", ""),
        "PORT": _db.get("port", ""),
        "OPTIONS": {"pool": True},  # as UAI (STACK-NOTES: persistent connections leak under ASGI)
    }
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}
