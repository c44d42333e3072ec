"""The instructor's side: a participant's workspace read-only and the help queue."""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from web.jsonbody import json_body
from workshops import selectors as workshop_selectors
from workshops.models import Enrollment
from workspace import help_requests, selectors
from workspace.views import json_errors, version_json


def _participant(workshop, user_id: int):
    """Return a member of the workshop, or 404 (nobody else's draft is shown)."""
    enrolled = Enrollment.objects.filter(
        workshop=workshop, user_id=user_id, active=True
    ).exists()
    user = get_user_model().objects.filter(pk=user_id).first()
    if not enrolled or user is None:
        raise Http404("No such participant.")
    return user


def _check_run(run) -> dict | None:
    if run is None:
        return None
    result = run.result or {}
    feedback = result.get("feedback") or []
    return {
        "status": run.status,
        "reason": run.reason,
        "log": (run.log or "")[-32 * 1024 :],
        "checks": result.get("checks") or [],
        "feedback": feedback if isinstance(feedback, list) else [str(feedback)],
        "indicative_accuracy": result.get("indicative_accuracy"),
        "created_at": run.created_at,
    }


@login_required
@require_GET
def workspace_view(
    request: HttpRequest, workshop: str, slug: str, user_id: int
) -> HttpResponse:
    """Show a participant's draft, history and last check run, read-only."""
    assignment, _ = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, instructor=True
    )
    participant = _participant(assignment.workshop, user_id)
    draft = selectors.draft_get(participant=participant, assignment=assignment)
    args = [workshop, slug, user_id]
    versions = selectors.draft_version_list(draft=draft)
    for version in versions:
        version["url"] = reverse(
            "workspace-instructor-version", args=[*args, version["number"]]
        )
    help_request = selectors.help_request_open(
        participant=participant, assignment=assignment
    )
    config = {
        "mode": "instructor",
        "participant": participant.username,
        "state": selectors.draft_state(participant=participant, assignment=assignment),
    }
    return render(
        request,
        "workspace/instructor_workspace.html",
        {
            "workshop": assignment.workshop,
            "assignment": assignment,
            "instructor": True,
            "participant": participant,
            "draft": draft,
            "versions": versions,
            "config": config,
            "check_run": _check_run(
                selectors.check_run_latest(
                    participant=participant, assignment=assignment
                )
            ),
            "last_error": selectors.last_error(
                participant=participant, assignment=assignment
            ),
            "help": help_request,
            "help_urls": {
                "take": reverse("help-take", args=[workshop, help_request.pk]),
                "done": reverse("help-done", args=[workshop, help_request.pk]),
                "reply": reverse("help-reply", args=[workshop, help_request.pk]),
            }
            if help_request
            else None,
        },
    )


@login_required
@require_GET
def workspace_version(
    request: HttpRequest, workshop: str, slug: str, user_id: int, number: int
) -> JsonResponse:
    assignment, _ = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, instructor=True
    )
    participant = _participant(assignment.workshop, user_id)
    draft = selectors.draft_get(participant=participant, assignment=assignment)
    version = selectors.draft_version_get(draft=draft, number=number)
    if version is None:
        return JsonResponse({"detail": "No such version."}, status=404)
    return JsonResponse(version_json(version))


@login_required
@require_GET
def help_queue(request: HttpRequest, slug: str) -> JsonResponse:
    """Return the workshop's open help requests, oldest first (polled live)."""
    workshop, _ = workshop_selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    requests = selectors.help_request_queue(workshop=workshop)
    for item in requests:
        item["workspace_url"] = reverse(
            "workspace-instructor",
            args=[slug, item["assignment_slug"], item["participant_id"]],
        )
        item["take_url"] = reverse("help-take", args=[slug, item["id"]])
        item["done_url"] = reverse("help-done", args=[slug, item["id"]])
    return JsonResponse({"requests": requests})


def _act(request: HttpRequest, slug: str, pk: int, action) -> JsonResponse:
    workshop, _ = workshop_selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    help_request = action(instructor=request.user, request_id=pk)
    if help_request.workshop_id != workshop.pk:
        raise Http404("No such help request.")
    return JsonResponse({"id": help_request.pk, "status": help_request.status})


@login_required
@require_POST
@json_errors
def help_take(request: HttpRequest, slug: str, pk: int) -> JsonResponse:
    return _act(request, slug, pk, help_requests.help_request_take)


@login_required
@require_POST
@json_errors
def help_done(request: HttpRequest, slug: str, pk: int) -> JsonResponse:
    return _act(request, slug, pk, help_requests.help_request_done)


@login_required
@require_POST
@json_errors
def help_reply(request: HttpRequest, slug: str, pk: int) -> JsonResponse:
    """POST {"text"}: send the participant a hint on their open request."""
    # The role first: a stranger learns nothing from how their body was read.
    workshop_selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    text = str(json_body(request).get("text") or "")
    return _act(
        request,
        slug,
        pk,
        lambda **kwargs: help_requests.help_request_reply(text=text, **kwargs),
    )
