"""The assignment page: the editor, the upload form and the participant's submissions.

The workspace's own page, since it composes the workshop's notes and downloads,
the submissions so far and the editor the workspace serves.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from submissions import selectors as submission_selectors
from submissions import uploads
from submissions.forms import SubmissionForm
from submissions.services.intake import submission_create, submissions_used_today
from web.lane import upload_lane
from workshops import selectors as workshop_selectors
from workshops.models import Assignment, Enrollment
from workshops.notes import note_for_block
from workshops.views import add_service_errors, download_available
from workspace.timings import assignment_timings, duration_text
from workspace.views import workspace_config


@csrf_exempt  # CSRF is checked below, once the upload handlers are in place
@login_required
def assignment_detail(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    assignment, enrollment = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug
    )
    if request.method != "POST":
        return _assignment_page(request, assignment, enrollment, None, None)
    guard = too_large = None
    # Cap the file before the CSRF check reads the body.
    try:
        guard = uploads.guard_upload(request)
    except uploads.UploadTooLarge as exc:
        too_large = str(exc)
    else:
        request.FILES  # noqa: B018 - read (capped) before the lane: see below
    # Only the storing waits for this process's upload lane: the body is read
    # first, so a participant who sends slowly never holds the lane.
    with upload_lane():
        return _assignment_page(request, assignment, enrollment, guard, too_large)


@csrf_protect
def _assignment_page(
    request: HttpRequest,
    assignment: Assignment,
    enrollment: Enrollment,
    guard: uploads.LimitedUploadHandler | None,
    too_large: str | None,
) -> HttpResponse:
    form = SubmissionForm()
    status = 200
    files = request.FILES if guard is not None else None  # parses, under the cap
    if too_large or (guard is not None and guard.exceeded):
        form = SubmissionForm(data={}, files={})
        form.is_valid()  # an unbound form cannot carry errors
        form.errors["file"] = form.error_class(
            [too_large or uploads.too_large_message()]
        )
        status = 413
    elif request.method == "POST":
        form = SubmissionForm(request.POST, files)
        if form.is_valid():
            try:
                submission = submission_create(
                    participant=request.user,
                    assignment=assignment,
                    upload=form.cleaned_data["file"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc, "file")
            else:
                messages.success(
                    request, f"Received {submission.original_name}; it is queued."
                )
                return redirect(submission)
        status = 400
    used = submissions_used_today(participant=request.user, assignment=assignment)
    left = max(assignment.daily_limit - used, 0)
    return render(
        request,
        "submissions/assignment_detail.html",
        {
            "assignment": assignment,
            "workshop": assignment.workshop,
            "instructor": enrollment.role == Enrollment.Role.INSTRUCTOR,
            "form": form,
            "submissions": submission_selectors.submission_list_for_participant(
                participant=request.user, assignment=assignment
            ),
            "used_today": used,
            "left_today": left,
            "downloads": download_available(assignment.pk),
            "notes": note_for_block(
                workshop=assignment.workshop, assignment_slug=assignment.slug
            ),
            "timings": assignment_timings(assignment=assignment),
            "wall_limit": duration_text(assignment.wall_seconds),
            "workspace": workspace_config(
                request, assignment=assignment, enrollment=enrollment, left=left
            ),
        },
        status=status,
    )
