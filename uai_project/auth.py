"""Authentication: API tokens sent as ``Authorization: Bearer <token>``."""

from __future__ import annotations

from rest_framework.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    """DRF token auth that reads the token from ``Authorization: Bearer <token>``.

    ``Token <token>`` (DRF's own keyword) is accepted as well.
    """

    keyword = "Bearer"

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        """Accept both ``Bearer`` and ``Token`` as the scheme."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:6].lower() == "token ":
            request.META["HTTP_AUTHORIZATION"] = "Bearer " + header[6:]
        return super().authenticate(request)
