"""Authentication for every surface: API tokens and JWT access tokens, as ``Bearer`` credentials.

``Authorization: Bearer <token>`` carries either a UAI API token (``manage.py create_token``) or a
JWT access token (``POST /api/auth/token``); ``Token <token>`` (DRF's keyword) works too.
WebSocket clients may also put the credential in the URL as ``?token=``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypedDict, cast
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token
from rest_framework_simplejwt import serializers as simplejwt_serializers
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from uai_project import errors
from uai_project.sql import columns, first

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django_stubs_ext import WithAnnotations

logger = logging.getLogger(__name__)

SCHEMES = (b"bearer", b"token")


def user_for_credential(raw: str) -> tuple[Any, Any]:
    """The (user, auth) a bearer credential stands for; AuthenticationFailed if it is no good."""
    if "\x00" in raw:  # no token has one, and PostgreSQL cannot compare it (a 500)
        raise exceptions.AuthenticationFailed("Invalid token.")
    if raw.count(".") == 2:  # a JWT: header.payload.signature
        jwt = JWTAuthentication()
        try:
            validated = jwt.get_validated_token(raw.encode())
            jwt_user = jwt.get_user(validated)
        except (InvalidToken, TokenError, exceptions.AuthenticationFailed) as exc:
            raise exceptions.AuthenticationFailed("Invalid or expired token.") from exc
        return jwt_user, validated
    # Every API request comes here: one hand-written statement (the ORM's select_related
    # query of the same row costs three times the CPU, ~0.5 ms).
    # (``first`` sets the statement's further columns as attributes)
    return token_user(first(get_user_model(), USER_OF_TOKEN, [raw]), raw)


def is_api_token(raw: str) -> bool:
    """Whether a bearer credential is looked up as an API token (``USER_OF_TOKEN``), not a JWT."""
    return "\x00" not in raw and raw.count(".") != 2


def token_user(found: Any, raw: str) -> tuple[Any, Any]:
    """The (user, token) of a row ``USER_OF_TOKEN`` selected (None: no such token), checked."""
    user = cast("WithAnnotations[AbstractBaseUser, _TokenColumns] | None", found)
    if user is None or not user.is_active:
        raise exceptions.AuthenticationFailed("Invalid token.")
    token = Token(key=raw, user_id=user.pk, created=user.token_created)
    token.user = user
    return user, token


class _TokenColumns(TypedDict):
    """What ``USER_OF_TOKEN`` selects besides the user's columns."""

    token_created: datetime.datetime


def _user_of_token_sql() -> str:
    users, tokens = get_user_model()._meta, Token._meta
    return (
        f"SELECT {columns(get_user_model(), 'u')}, t.created AS token_created FROM {users.db_table} u"
        f" JOIN {tokens.db_table} t ON t.user_id = u.{users.pk.column} WHERE t.key = %s"
    )


# The user of an API token (``%s``: the key), and the token's creation time as ``token_created``.
# (Idempotency keys claim a key in the same statement: uai/idempotency/services.py.)
USER_OF_TOKEN = _user_of_token_sql()


class BearerAuthentication(BaseAuthentication):
    """DRF authentication of ``Authorization: Bearer <API token or JWT>``."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        """The user of the request's bearer credential, None when it has none."""
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in SCHEMES:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: use 'Bearer <token>'.")
        try:
            raw = parts[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        return user_for_credential(raw)

    def authenticate_header(self, request: Any) -> str:
        """Makes DRF answer 401 (not 403) to unauthenticated requests."""
        return 'Bearer realm="uai"'


class ApiKeyAuthentication(BaseAuthentication):
    """DRF authentication of ``x-api-key: <API token or JWT>``, as LangGraph's SDKs send a key."""

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        raw = request.META.get("HTTP_X_API_KEY")
        if not raw:
            return None
        return user_for_credential(raw.strip())

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="uai"'


def authenticate_request(request: Any) -> Any | None:
    """The user of a plain Django request (bearer credential, else session); None if anonymous.

    Raises AuthenticationFailed for a credential that is present but wrong.
    """
    found = BearerAuthentication().authenticate(request)
    if found is not None:
        return found[0]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    return None


# --- WebSocket ------------------------------------------------------------------------------------


@database_sync_to_async
def _websocket_user(raw: str | None) -> Any:
    if not raw:
        return AnonymousUser()
    try:
        return user_for_credential(raw)[0]
    except exceptions.AuthenticationFailed:
        return AnonymousUser()


def websocket_credential(scope: dict[str, Any]) -> str | None:
    """The bearer credential of a WebSocket handshake: the Authorization header, else ``?token=``."""
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            parts = value.split()
            if len(parts) == 2 and parts[0].lower() in SCHEMES:
                return parts[1].decode("latin1")
    query_string: bytes = scope.get("query_string", b"")
    query = parse_qs(query_string.decode("latin1"))
    tokens = query.get("token")
    return tokens[0] if tokens else None


async def _try_again_later(receive: Any, send: Any) -> None:
    """A handshake whose credential could not be checked (the database away): accepted and closed
    at once with 4013 (try again later), for the client to try again later — a refusal (403) would say the
    credential is wrong, and an error (500) that the server is."""
    logger.warning("WebSocket handshake: the database is unreachable; closing with 4013")
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": errors.WS_CLOSE_TRY_AGAIN})


class WebSocketAuthMiddleware:
    """Sets ``scope["user"]`` for a WebSocket handshake: from its bearer credential when it has a
    valid one, else from the session cookie (a browser signed in to the pages), else anonymous.

    Token clients bypass the session middleware stack, whose frames and scope copies an open
    connection would otherwise keep for its whole life (~3 KiB per idle connection).
    """

    def __init__(self, app: Any) -> None:
        from channels.auth import AuthMiddlewareStack

        self.app = app
        self.by_session: Callable[[dict[str, Any], Any, Any], Awaitable[None]] = AuthMiddlewareStack(app)  # type: ignore[assignment]  # ASGI 3; the stub allows ASGI 2 too

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        credential = websocket_credential(scope)
        if credential:
            try:
                user = await _websocket_user(credential)
            except Exception as error:
                if errors.outage(error) is None:
                    raise
                return await _try_again_later(receive, send)
            if user.is_authenticated:
                # Set on the connection's own scope (this stack's only one, ~0.8 KiB): a copy
                # would live as long as the connection.
                scope["user"] = user
                return await self.app(scope, receive, send)
        return await self.by_session(scope, receive, send)


class UAIOriginValidator(OriginValidator):
    """Browsers always send ``Origin``: it must be an allowed host (or a configured origin).

    Clients that are not browsers send none and cannot be abused cross-site, so they pass.
    """

    def __init__(self, application: Any) -> None:
        hosts = [h for h in settings.ALLOWED_HOSTS if h]
        super().__init__(application, [*hosts, *settings.UAI_WS_ALLOWED_ORIGINS])

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


class TokenRefreshSerializer(simplejwt_serializers.TokenRefreshSerializer):
    """simplejwt's, with a refresh token of a deleted user refused (401) instead of a 500 (its
    ``User.objects.get`` raises DoesNotExist)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            return super().validate(attrs)
        except get_user_model().DoesNotExist:
            raise exceptions.AuthenticationFailed(
                "No active account found for the given token.", "no_active_account"
            ) from None
