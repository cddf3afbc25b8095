"""Webhook endpoints a user registers for the events of their runs: ``/webhooks/…``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.webhooks import selectors, services
from uai.webhooks.models import EndpointDelivery
from uai.webhooks.presenters import delivery_data, endpoint_data
from uai.webhooks.serializers import (
    DeliveryOut,
    EndpointCreateIn,
    EndpointOut,
    EndpointUpdateIn,
    EndpointWithSecretOut,
    RotateSecretIn,
)
from uai_project.api import user_id, validated, whole_number
from uai_project.errors import InvalidInput
from uai_project.schema import errors

MAX_DELIVERY_LIST = 100


class EndpointListCreateView(APIView):
    @extend_schema(responses=EndpointOut(many=True))
    def get(self, request: Request) -> Response:
        """The user's webhook endpoints, oldest first (secrets not shown)."""
        return Response([endpoint_data(e) for e in selectors.endpoint_list(user=request.user)])

    @extend_schema(request=EndpointCreateIn, responses={201: EndpointWithSecretOut})
    def post(self, request: Request) -> Response:
        """Register a URL for events of the user's runs (every type and agent unless filtered).
        The answer carries the signing secret. 400 for a URL UAI may not call (not among
        UAI_WEBHOOK_ALLOWED_URLS, or resolving to a private address), an unknown event type or
        agent, or one endpoint too many."""
        data = validated(EndpointCreateIn, request.data)
        endpoint = services.endpoint_create(
            owner_id=user_id(request),
            url=data["url"],
            event_types=data.get("event_types", []),
            agents=data.get("agents", []),
            description=data.get("description", ""),
            enabled=data.get("enabled", True),
            secret=data.get("secret"),
        )
        return Response(endpoint_data(endpoint, with_secret=True), status=status.HTTP_201_CREATED)


class EndpointDetailView(APIView):
    @extend_schema(responses=EndpointOut)
    def get(self, request: Request, endpoint_id: str) -> Response:
        """One endpoint."""
        return Response(endpoint_data(selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)))

    @extend_schema(request=EndpointUpdateIn, responses=EndpointOut)
    def patch(self, request: Request, endpoint_id: str) -> Response:
        """Change the fields given (checked as when registered)."""
        endpoint = selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)
        data = validated(EndpointUpdateIn, request.data)
        return Response(endpoint_data(services.endpoint_update(endpoint=endpoint, fields=data)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, endpoint_id: str) -> Response:
        """Delete the endpoint and its deliveries."""
        services.endpoint_delete(endpoint=selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RotateSecretView(APIView):
    @extend_schema(request=RotateSecretIn, responses=EndpointWithSecretOut)
    def post(self, request: Request, endpoint_id: str) -> Response:
        """A new signing secret; the old one signs beside it for ``grace_seconds`` (every POST
        carries both signatures until then)."""
        endpoint = selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)
        data = validated(RotateSecretIn, request.data)
        endpoint = services.endpoint_rotate_secret(
            endpoint=endpoint, secret=data.get("secret"), grace_seconds=data.get("grace_seconds")
        )
        return Response(endpoint_data(endpoint, with_secret=True))


class TestView(APIView):
    @extend_schema(
        request=None,
        responses={202: DeliveryOut, **errors({409: "The endpoint is disabled."})},
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        """Send a ``webhook.test`` event to the endpoint now, whatever its filters."""
        endpoint = selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)
        delivery = services.endpoint_test(endpoint=endpoint)
        return Response(delivery_data(delivery), status=status.HTTP_202_ACCEPTED)


class DeliveryListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=EndpointDelivery.Status.values),
            OpenApiParameter(
                "limit", int, description=f"At most this many, newest first (1–{MAX_DELIVERY_LIST})."
            ),
        ],
        responses=DeliveryOut(many=True),
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        """The endpoint's deliveries, newest first, each with its attempts and the answers."""
        endpoint = selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in EndpointDelivery.Status.values:
            raise InvalidInput(f"status must be one of: {', '.join(EndpointDelivery.Status.values)}.")
        raw = request.query_params.get("limit")
        limit = whole_number(raw, "limit", minimum=1) if raw else MAX_DELIVERY_LIST
        deliveries = selectors.endpoint_delivery_list(
            endpoint=endpoint, limit=min(limit, MAX_DELIVERY_LIST), status=wanted
        )
        return Response([delivery_data(d) for d in deliveries])


class DeliveryDetailView(APIView):
    @extend_schema(responses=DeliveryOut)
    def get(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        """One delivery with its attempts."""
        endpoint = selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)
        return Response(
            delivery_data(selectors.endpoint_delivery_get(endpoint=endpoint, delivery_id=delivery_id))
        )


class RedeliverView(APIView):
    @extend_schema(
        request=None,
        responses={
            202: DeliveryOut,
            **errors({409: "The delivery is still pending, or the endpoint is disabled."}),
        },
    )
    def post(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        """Send a delivered or failed delivery again: the same body and ``webhook-id``, a new set
        of attempts."""
        endpoint = selectors.endpoint_get(user=request.user, endpoint_id=endpoint_id)
        delivery = selectors.endpoint_delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        delivery = services.delivery_redeliver(delivery=delivery)
        return Response(delivery_data(delivery), status=status.HTTP_202_ACCEPTED)
