"""The same check endpoints under the REST API, for token users."""

from django.core.exceptions import ValidationError
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.serializers import DetailSerializer
from checks import requests
from checks.selectors import check_run_get_visible, check_run_to_json
from checks.services import (
    assignment_check_refusal,
    check_run_create,
    refusal_code,
)
from checks.views import NOT_FOUND, STATUS_FOR
from workshops.models import Assignment

CHECK_STARTED = inline_serializer(
    name="CheckStarted",
    fields={"id": serializers.IntegerField(), "status_url": serializers.CharField()},
)
CHECK_SOURCE = inline_serializer(
    name="CheckSource", fields={"source": serializers.CharField()}
)


class CheckStartView(APIView):
    """Start a check run of {"source": "..."} for an assignment (202)."""

    # The body is read by `requests.source_from_body`, with its size and depth
    # bound, not by DRF's parsers.
    parser_classes: list = []

    @extend_schema(
        request={"application/json": CHECK_SOURCE},
        responses={
            202: CHECK_STARTED,
            400: DetailSerializer,
            403: DetailSerializer,
            404: DetailSerializer,
            413: DetailSerializer,
            429: DetailSerializer,
        },
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = (
            Assignment.objects.select_related("workshop")
            .filter(pk=assignment_id)
            .first()
        )
        if assignment is None:
            return Response({"detail": "No such assignment for you."}, status=404)
        # Refused before the body is read: an outsider learns nothing from it.
        refusal = assignment_check_refusal(
            participant=request.user, assignment=assignment
        )
        if refusal:
            return Response(
                {"detail": refusal}, status=STATUS_FOR.get(refusal_code(refusal), 400)
            )
        try:
            source = requests.source_from_body(request._request)
            check = check_run_create(
                participant=request.user, assignment=assignment, source=source
            )
        except ValidationError as exc:
            return Response(
                {"detail": " ".join(exc.messages)},
                status=STATUS_FOR.get(exc.code or "", 400),
            )
        url = reverse("api:check-detail", kwargs={"check_id": check.pk})
        return Response({"id": check.pk, "status_url": url}, status=202)


class CheckDetailView(APIView):
    """Return a check run's status, log and result (owner or its instructors)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: DetailSerializer})
    def get(self, request: Request, check_id: int) -> Response:
        check = check_run_get_visible(user=request.user, pk=check_id)
        if check is None:
            return Response({"detail": NOT_FOUND}, status=404)
        return Response(check_run_to_json(check=check))
