"""The participant's draft endpoints (JSON) and the workspace embedded in a page."""

import functools

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from web.jsonbody import BodyRefused, json_body
from web.lane import upload_lane
from workshops import selectors as workshop_selectors
from workshops.models import Assignment, Enrollment
from workspace import help_requests, limits, notebooks, selectors, services
from workspace.models import DraftVersion, HelpRequest

SAVE_REASONS = {"edit", "check", "leave"}


def json_errors(view):
    """Answer a refused body or a service's ValidationError as JSON {"detail"}."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BodyRefused as exc:
            return JsonResponse({"detail": str(exc)}, status=exc.status)
        except limits.DraftThrottled as exc:
            response = JsonResponse(
                {"detail": exc.message, "retry_after": exc.retry_after}, status=429
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
        except ValidationError as exc:
            return JsonResponse({"detail": " ".join(exc.messages)}, status=400)

    return wrapper


def _assignment(request: HttpRequest, workshop: str, slug: str) -> Assignment:
    assignment, _ = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug
    )
    return assignment


def _base(body: dict) -> int | None:
    base = body.get("base")
    if base is None:
        return None
    if isinstance(base, bool) or not isinstance(base, int) or base < 0:
        raise ValidationError("The draft's base revision must be a whole number.")
    return base


def _saved(result: services.SaveResult, **extra) -> JsonResponse:
    return JsonResponse(
        {
            "revision": result.draft.revision,
            "saved_at": result.draft.updated_at.isoformat(),
            "version": result.version,
            "conflict": result.conflict,
            **extra,
        }
    )


@login_required
@require_http_methods(["GET", "POST"])
@json_errors
def draft(request: HttpRequest, workshop: str, slug: str) -> JsonResponse:
    """GET the editor's text; POST {"text", "base", "reason"} to save it."""
    assignment = _assignment(request, workshop, slug)
    if request.method == "GET":
        return JsonResponse(
            selectors.draft_state(participant=request.user, assignment=assignment)
        )
    limits.draft_rate_take(participant=request.user, action="save")
    body = json_body(request)
    reason = body.get("reason", "edit")
    if reason not in SAVE_REASONS:
        raise ValidationError("Unknown save reason.")
    result = services.draft_save(
        participant=request.user,
        assignment=assignment,
        text=body.get("text"),
        base_revision=_base(body),
        reason=DraftVersion.Reason.EDIT if reason == "leave" else reason,
    )
    return _saved(result)


@login_required
@require_GET
def draft_versions(request: HttpRequest, workshop: str, slug: str) -> JsonResponse:
    assignment = _assignment(request, workshop, slug)
    found = selectors.draft_get(participant=request.user, assignment=assignment)
    return JsonResponse({"versions": selectors.draft_version_list(draft=found)})


def version_json(version: DraftVersion) -> dict:
    return {
        "number": version.number,
        "text": version.text,
        "reason": version.reason,
        "note": version.note,
        "created_at": version.created_at.isoformat(),
        "submission_id": version.submission_id,
    }


@login_required
@require_GET
def draft_version(
    request: HttpRequest, workshop: str, slug: str, number: int
) -> JsonResponse:
    assignment = _assignment(request, workshop, slug)
    found = selectors.draft_get(participant=request.user, assignment=assignment)
    version = selectors.draft_version_get(draft=found, number=number)
    if version is None:
        return JsonResponse({"detail": "No such version."}, status=404)
    return JsonResponse(version_json(version))


@login_required
@require_POST
@json_errors
def draft_restore(
    request: HttpRequest, workshop: str, slug: str, number: int
) -> JsonResponse:
    assignment = _assignment(request, workshop, slug)
    body = json_body(request)
    result = services.draft_version_restore(
        participant=request.user,
        assignment=assignment,
        number=number,
        base_revision=_base(body),
    )
    return _saved(result, text=result.draft.text)


@login_required
@require_POST
@json_errors
def draft_reset(request: HttpRequest, workshop: str, slug: str) -> JsonResponse:
    assignment = _assignment(request, workshop, slug)
    body = json_body(request)
    result = services.draft_reset(
        participant=request.user, assignment=assignment, base_revision=_base(body)
    )
    return _saved(result, text=result.draft.text)


@login_required
@require_POST
@json_errors
def draft_import(request: HttpRequest, workshop: str, slug: str) -> JsonResponse:
    """Open a .py or .ipynb file (sent as text) into the draft, as a new version."""
    assignment = _assignment(request, workshop, slug)
    body = json_body(request)
    content = body.get("content")
    if not isinstance(content, str):
        raise ValidationError("Choose a .py or .ipynb file to open.")
    text = services.draft_import(
        filename=str(body.get("name") or ""), raw=content.encode("utf-8", "replace")
    )
    result = services.draft_save(
        participant=request.user,
        assignment=assignment,
        text=text,
        base_revision=_base(body),
        reason=DraftVersion.Reason.IMPORT,
    )
    return _saved(result, text=result.draft.text)


@login_required
@require_GET
def draft_export(request: HttpRequest, workshop: str, slug: str, fmt: str):
    """Download the saved draft as a percent-format script or a notebook."""
    assignment = _assignment(request, workshop, slug)
    if fmt not in ("py", "ipynb"):
        raise Http404("Export as .py or .ipynb.")
    try:
        limits.draft_rate_take(participant=request.user, action="export")
    except limits.DraftThrottled as exc:
        return HttpResponse(
            exc.message, status=429, headers={"Retry-After": str(exc.retry_after)}
        )
    text = selectors.draft_state(participant=request.user, assignment=assignment)[
        "text"
    ]
    # A draft saved before the cap on cells is exported as it is, never converted.
    if fmt == "ipynb" and notebooks.cell_count(text) > settings.DOJO_DRAFT_MAX_CELLS:
        return HttpResponse(
            notebooks.too_many_cells(notebooks.cell_count(text))
            + " Export it as .py instead.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    if fmt == "ipynb":
        body, kind = notebooks.percent_to_notebook(text), "application/x-ipynb+json"
    else:
        body, kind = text, "text/x-python; charset=utf-8"
    response = HttpResponse(body, content_type=kind)
    response["Content-Disposition"] = (
        f'attachment; filename="{assignment.slug}-draft.{fmt}"'
    )
    return response


@login_required
@require_POST
@json_errors
def draft_submit(request: HttpRequest, workshop: str, slug: str) -> JsonResponse:
    """Submit the editor's text as an ordinary (counted, graded) submission."""
    assignment = _assignment(request, workshop, slug)
    body = json_body(request)
    with upload_lane():
        submission, result = services.draft_submit(
            participant=request.user,
            assignment=assignment,
            text=body.get("text"),
            base_revision=_base(body),
        )
    return _saved(
        result,
        submission_id=submission.pk,
        submission_url=submission.get_absolute_url(),
    )


def help_json(help_request: HelpRequest | None) -> dict | None:
    if help_request is None:
        return None
    position = 0
    if help_request.status == HelpRequest.Status.WAITING:
        position = HelpRequest.objects.filter(
            workshop_id=help_request.workshop_id,
            status=HelpRequest.Status.WAITING,
            created_at__lte=help_request.created_at,
        ).count()
    return {
        "id": help_request.pk,
        "status": help_request.status,
        "note": help_request.note,
        "taken_by": help_request.taken_by.username if help_request.taken_by else "",
        "position": position,
        "created_at": help_request.created_at.isoformat(),
        "reply": help_request.reply,
        "replied_by": help_request.replied_by.username
        if help_request.replied_by
        else "",
        "replied_at": _clock(help_request.replied_at),
        "closed_at": _clock(help_request.closed_at),
    }


def _clock(moment) -> str:
    """Return a moment as the site's 24-hour clock ("14:05"), or ""."""
    return timezone.localtime(moment).strftime("%H:%M") if moment else ""


@login_required
@require_http_methods(["GET", "POST"])
@json_errors
def help_request(request: HttpRequest, workshop: str, slug: str) -> JsonResponse:
    """GET the participant's open help request; POST {"note"} to ask for help."""
    assignment = _assignment(request, workshop, slug)
    if request.method == "POST":
        body = json_body(request)
        help_requests.help_request_create(
            participant=request.user,
            assignment=assignment,
            note=str(body.get("note") or ""),
        )
    found = selectors.help_request_for_participant(
        participant=request.user, assignment=assignment
    )
    return JsonResponse({"request": help_json(found)})


@login_required
@require_POST
def help_withdraw(request: HttpRequest, workshop: str, slug: str) -> JsonResponse:
    assignment = _assignment(request, workshop, slug)
    count = help_requests.help_request_withdraw(
        participant=request.user, assignment=assignment
    )
    return JsonResponse({"withdrawn": count})


def _check_url(assignment: Assignment) -> str:
    """Return the checks app's endpoint that starts a check run."""
    return reverse("check-start", args=[assignment.pk])


def _last_check_url(user, assignment: Assignment) -> str:
    """Return where to follow the participant's newest check run ("" if none)."""
    check = selectors.check_run_latest(participant=user, assignment=assignment)
    return reverse("check-detail", args=[check.pk]) if check else ""


def workspace_config(
    request: HttpRequest, *, assignment: Assignment, enrollment: Enrollment, left: int
) -> dict:
    """Return the participant editor's configuration for the assignment page."""
    args = [assignment.workshop.slug, assignment.slug]
    open_for_work = assignment.closed_reason() is None
    participant = enrollment.role == Enrollment.Role.PARTICIPANT
    return {
        "mode": "participant",
        "title": assignment.title,
        "storageKey": f"dojo-draft:{request.user.pk}:{assignment.pk}",
        "state": selectors.draft_state(participant=request.user, assignment=assignment),
        "help": help_json(
            selectors.help_request_for_participant(
                participant=request.user, assignment=assignment
            )
        ),
        "leftToday": left,
        "lastCheck": _last_check_url(request.user, assignment),
        "maxBytes": settings.DOJO_UPLOAD_MAX_BYTES,
        "urls": {
            "draft": reverse("draft", args=args),
            "versions": reverse("draft-versions", args=args),
            "version": reverse("draft-version", args=[*args, 0]),
            "restore": reverse("draft-restore", args=[*args, 0]),
            "reset": reverse("draft-reset", args=args),
            "import": reverse("draft-import", args=args),
            "submit": reverse("draft-submit", args=args)
            if open_for_work and participant
            else "",
            "check": _check_url(assignment) if open_for_work else "",
            "submission": reverse("submission-detail", args=[0]),
            "help": reverse("help-request", args=args),
            "helpWithdraw": reverse("help-withdraw", args=args),
        },
    }
