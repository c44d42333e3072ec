"""JSON endpoints for the editor: start a check, follow it (session + CSRF)."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from checks import requests
from checks.selectors import check_run_get_visible, check_run_to_json
from checks.services import (
    assignment_check_refusal,
    check_run_create,
    refusal_code,
)
from workshops.models import Assignment

NOT_FOUND = "No such check run for you."
# The service's refusal codes; anything else is a plain 400.
STATUS_FOR = {"not_found": 404, "rate": 429, "too_large": 413}


def _detail(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _login_required(request: HttpRequest) -> JsonResponse | None:
    if request.user.is_authenticated:
        return None
    return _detail("Log in to run checks.", 403)


@require_POST
def check_start(request: HttpRequest, assignment_id: int) -> JsonResponse:
    """Start a check of the posted source; 202 with where to follow it."""
    if (refused := _login_required(request)) is not None:
        return refused
    assignment = (
        Assignment.objects.select_related("workshop").filter(pk=assignment_id).first()
    )
    if assignment is None:
        return _detail("No such assignment for you.", 404)
    # Refused before the body is read: an outsider learns nothing from it.
    refusal = assignment_check_refusal(participant=request.user, assignment=assignment)
    if refusal:
        return _detail(refusal, STATUS_FOR.get(refusal_code(refusal), 400))
    try:
        source = requests.source_from_body(request)
        check = check_run_create(
            participant=request.user, assignment=assignment, source=source
        )
    except ValidationError as exc:
        return _detail(" ".join(exc.messages), STATUS_FOR.get(exc.code or "", 400))
    status_url = reverse("check-detail", kwargs={"check_id": check.pk})
    return JsonResponse({"id": check.pk, "status_url": status_url}, status=202)


@require_GET
def check_detail(request: HttpRequest, check_id: int) -> JsonResponse:
    """Return the check's status, log so far and result."""
    if (refused := _login_required(request)) is not None:
        return refused
    check = check_run_get_visible(user=request.user, pk=check_id)
    if check is None:
        return _detail(NOT_FOUND, 404)
    return JsonResponse(check_run_to_json(check=check))
