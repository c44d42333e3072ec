"""Leaderboards, the instructor dashboard, statistics, regrades, exports, hosts."""

import csv
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard import cells, progress, selectors, validation
from dashboard.forms import RegradeForm
from dashboard.standings import LEADERBOARD_PAGE
from runners.models import RUNNER_QUEUES
from runners.selectors import runner_host_list
from submissions.models import FINAL_STATUSES, RegradeBatch, Submission
from submissions.selectors import regrade_batch_progress
from submissions.services.finals import submission_mark_final
from submissions.services.regrade import regrade_batch_cancel, regrade_batch_create
from web import charts
from web.scores import score_text
from workshops import notes
from workshops import selectors as workshop_selectors
from workshops.models import Enrollment
from workshops.views import add_service_errors
from workspace.timings import workshop_timings


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _page(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


@login_required
def workshop_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """Show the workshop's agenda with the participant's progress on each assignment.

    The dashboard's page: progress is read from submissions, above workshops.
    """
    workshop, enrollment = workshop_selectors.workshop_for_member(
        user=request.user, slug=slug
    )
    instructor = enrollment.role == Enrollment.Role.INSTRUCTOR
    assignments = list(
        workshop_selectors.assignment_list_visible(
            workshop=workshop, instructor=instructor
        )
    )
    # An instructor previews the page: they have no progress of their own.
    rows = (
        [{"assignment": assignment} for assignment in assignments]
        if instructor
        else progress.assignment_progress_for_participant(
            participant=request.user, assignments=assignments
        )
    )
    agenda = workshop_selectors.agenda_with_links(
        workshop=workshop,
        assignments=assignments,
        note_slugs=notes.note_list(workshop=workshop),
    )
    # Hands-on blocks say how long a training takes here, as measured.
    ids = {a.slug: a.pk for a in assignments}
    timings = workshop_timings(workshop_id=workshop.pk) if ids else {}
    for item in agenda:
        if item.get("assignment") in ids:
            measured = timings.get(ids[item["assignment"]]) or {}
            item["timing"] = measured.get("training")
            item["measured"] = True
    return render(
        request,
        "workshops/workshop_detail.html",
        {
            "workshop": workshop,
            "rows": rows,
            "instructor": instructor,
            "agenda": agenda,
            # Data a pack needs that this server lacks, with the install line.
            "data_notices": sorted(
                {a.spec.get("data_notice") for a in assignments} - {None, ""}
            ),
        },
    )


PRIVATE_HIDDEN = (
    "The private ranking is revealed when your instructor closes the assignment."
)


@login_required
def leaderboard(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    """Rank by the public part during the workshop, by the private part at close.

    An instructor may look at the private ranking at any time (``?part=
    private``); a participant asking for it before the close sees the public one
    with the reason.
    """
    assignment, enrollment = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, board_token=True
    )
    instructor = enrollment.role == Enrollment.Role.INSTRUCTOR
    revealed = assignment.private_revealed
    part = request.GET.get("part") or selectors.leaderboard_part(assignment=assignment)
    notice = ""
    if part not in ("public", "private"):
        part = selectors.leaderboard_part(assignment=assignment)
    if part == "private" and not (instructor or revealed):
        part, notice = "public", PRIVATE_HIDDEN
    show_private = instructor or revealed
    count, page, board = selectors.leaderboard_page(
        assignment=assignment,
        part=part,
        include_private=show_private,
        page=_page(request),
        size=LEADERBOARD_PAGE,
        token=assignment.board_token,
    )
    pages = max(1, -(-count // LEADERBOARD_PAGE))
    me = None
    if not instructor and all(e["participant_id"] != request.user.pk for e in board):
        me = selectors.leaderboard_entry_for(
            assignment=assignment,
            participant=request.user,
            include_private=show_private,
            part=part,
        )
    choices = (
        []
        if instructor
        else selectors.final_choices(assignment=assignment, participant=request.user)
    )
    return render(
        request,
        "dashboard/leaderboard.html",
        {
            "assignment": assignment,
            "workshop": assignment.workshop,
            "instructor": instructor,
            "show_private": show_private,
            "revealed": revealed,
            "part": part,
            "other_part": "public" if part == "private" else "private",
            "notice": notice,
            "board": board,
            "board_body": cells.board_body(
                board,
                show_private=show_private,
                instructor=instructor,
                viewer_id=request.user.pk,
                part=part,
            ),
            "me": me,
            "page": page,
            "pages": pages,
            "choices": choices,
            "finals_marked": sum(1 for c in choices if c["final"]),
            "choice_open": assignment.closed_reason(work="changes") is None,
        },
    )


@login_required
@require_POST
def final_mark(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    """Mark or unmark one of the participant's submissions as final."""
    assignment, _ = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug
    )
    back = reverse("leaderboard", args=[assignment.workshop.slug, assignment.slug])
    try:
        submission_id = int(request.POST.get("submission", ""))
    except ValueError:
        messages.error(request, "Choose a submission: its number was missing.")
        return redirect(back)
    final = request.POST.get("final") == "1"
    try:
        submission = submission_mark_final(
            participant=request.user,
            submission_id=submission_id,
            final=final,
            assignment_id=assignment.pk,
        )
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    if final:
        messages.success(request, f"Submission {submission.pk} is marked final.")
    else:
        messages.success(request, f"Submission {submission.pk} is no longer final.")
    return redirect(back)


@login_required
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    workshop, _ = workshop_selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    name = request.GET.get("name", "").strip()
    status = request.GET.get("status", "")
    if status not in progress.PROGRESS_LABELS:
        status = ""
    page = _page(request)
    query = urlencode(
        {"name": name, "status": status, "page": page, "fragment": "live"}
    )
    # The page re-fetches just its live part every 15 s: stats, matrix, stragglers.
    fragment = request.GET.get("fragment") == "live"
    matrix = selectors.progress_matrix(
        workshop=workshop, name=name, status=status, page=page
    )
    return render(
        request,
        "dashboard/_live.html" if fragment else "dashboard/dashboard.html",
        {
            "refresh_url": f"{request.path}?{query}",
            "workshop": workshop,
            "instructor": True,
            "matrix": matrix,
            "matrix_body": cells.matrix_body(
                matrix["rows"], workspace_links(workshop, matrix["assignments"])
            ),
            "help_queue": {
                "queueUrl": reverse("help-queue", args=[workshop.slug]),
                "everyMs": 3000,
            },
            "filters": urlencode({"name": name, "status": status}),
            "jobs": selectors.job_counts(
                workshop=workshop,
                assignment_ids=[a.pk for a in matrix["assignments"]],
            ),
            "name": name,
            "status": status,
            "statuses": progress.PROGRESS_LABELS,
        },
    )


def workspace_links(workshop, assignments) -> list[str]:
    """Return each column's workspace URL pattern ({} for the participant's id)."""
    return [
        reverse("workspace-instructor", args=[workshop.slug, a.slug, 0]).replace(
            "/0/", "/{}/"
        )
        for a in assignments
    ]


@login_required
def assignment_stats(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    assignment, _ = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, instructor=True
    )
    stats = selectors.assignment_stats(assignment=assignment)
    return render(
        request,
        "dashboard/assignment_stats.html",
        {
            "assignment": assignment,
            "workshop": assignment.workshop,
            "instructor": True,
            "stats": stats,
            "histogram_svg": charts.accuracy_histogram_of_bins(stats["histogram"]),
            "board_body": cells.board_body(
                stats["leaderboard"],
                show_private=True,
                instructor=True,
                viewer_id=request.user.pk,
            ),
            "part": "public",
            "batches": list(assignment.regrade_batches.order_by("-created_at")[:5]),
            # Why the reference as it stands is not validated (new, edited,
            # below full marks), with the way to Validate; None once it is.
            "reference_refusal": validation.validation_release_refusal(assignment),
            "graded_before": (
                selectors.submissions_graded_under_older_version(assignment=assignment)
                if assignment.spec_version > 1
                else 0
            ),
        },
    )


@login_required
def regrade_create(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    assignment, _ = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, instructor=True
    )
    finished = list(
        Submission.objects.filter(
            assignment=assignment, status__in=FINAL_STATUSES, reference=False
        )
        .select_related("participant", "current_grade")
        .order_by("participant__username", "-created_at")[:500]
    )
    choices = [
        (
            s.pk,
            f"#{s.pk} {s.participant.username}: {s.get_status_display()}"
            + (f", {score_text(s.current_grade.score)}" if s.current_grade else ""),
        )
        for s in finished
    ]
    form = RegradeForm(request.POST or None, choices=choices)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                batch = regrade_batch_create(
                    assignment=assignment,
                    mode=form.cleaned_data["mode"],
                    selection=form.cleaned_data["selection"],
                    submission_ids=form.cleaned_data["submission_ids"],
                    created_by=request.user,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return redirect("regrade-detail", pk=batch.pk)
        status = 400
    return render(
        request,
        "dashboard/regrade_form.html",
        {
            "assignment": assignment,
            "workshop": assignment.workshop,
            "instructor": True,
            "form": form,
            "finished_count": len(finished),
        },
        status=status,
    )


def _batch_for(request: HttpRequest, pk: int) -> RegradeBatch:
    batch = get_object_or_404(
        RegradeBatch.objects.select_related("assignment__workshop", "created_by"), pk=pk
    )
    workshop_selectors.workshop_for_member(
        user=request.user, slug=batch.assignment.workshop.slug, instructor=True
    )
    return batch


@login_required
def regrade_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_for(request, pk)
    return render(
        request,
        "dashboard/regrade_detail.html",
        {
            "batch": batch,
            "assignment": batch.assignment,
            "workshop": batch.assignment.workshop,
            "instructor": True,
            "progress": regrade_batch_progress(batch=batch),
        },
    )


@login_required
def regrade_progress(request: HttpRequest, pk: int) -> JsonResponse:
    batch = _batch_for(request, pk)
    return JsonResponse(
        regrade_batch_progress(batch=batch), headers={"Cache-Control": "no-store"}
    )


@login_required
@require_POST
def regrade_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_for(request, pk)
    regrade_batch_cancel(batch=batch)
    messages.info(request, "Batch cancelled: jobs not yet started will not run.")
    return redirect("regrade-detail", pk=batch.pk)


@login_required
def export_grades(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    workshop, _ = workshop_selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    return _csv_response(
        selectors.grade_rows_for_export(workshop=workshop),
        f"{workshop.slug}-grades.csv",
    )


@login_required
def export_submissions(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    workshop, _ = workshop_selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    return _csv_response(
        selectors.submission_rows_for_export(workshop=workshop),
        f"{workshop.slug}-submissions.csv",
    )


@login_required
def export_leaderboard(request: HttpRequest, workshop: str, slug: str):
    assignment, _ = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, instructor=True
    )
    return _csv_response(
        selectors.leaderboard_rows_for_export(assignment=assignment),
        f"{assignment.workshop.slug}-{assignment.slug}-leaderboard.csv",
    )


@login_required
def hosts(request: HttpRequest, slug: str) -> HttpResponse:
    workshop, _ = workshop_selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    # Staff run the machines and see every workshop; an instructor sees theirs.
    scope = None if request.user.is_staff else workshop
    inspect = selectors.celery_inspect(timeout=1.0)
    return render(
        request,
        "dashboard/hosts.html",
        {
            "workshop": workshop,
            "instructor": True,
            "all_workshops": scope is None,
            "hosts": selectors.host_list_alive(workshop=scope),
            "inspect": inspect,
            "workers": selectors.worker_list(inspect=inspect, workshop=scope),
            "queues": selectors.queue_lengths(workshop=scope),
            "runner_hosts": runner_host_list(workshop=scope),
            "runner_queues": RUNNER_QUEUES,
        },
    )


@login_required
def assignment_validate(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    """Run the reference through a check and a full grading; show how it did."""
    assignment, _ = workshop_selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, instructor=True
    )
    if request.method == "POST":
        try:
            validation.validation_start(assignment=assignment, instructor=request.user)
        except (ValidationError, ValueError) as exc:
            text = " ".join(exc.messages) if hasattr(exc, "messages") else str(exc)
            messages.error(request, f"The reference could not be validated: {text}")
        else:
            messages.success(
                request, "The reference is being checked, trained and graded."
            )
        return redirect(
            "assignment-validate", workshop=assignment.workshop.slug, slug=slug
        )
    latest = validation.validation_latest(
        assignment=assignment, instructor=request.user
    )
    graded = validation.validation_graded(assignment=assignment)
    return render(
        request,
        "dashboard/assignment_validate.html",
        {
            "assignment": assignment,
            "workshop": assignment.workshop,
            "instructor": True,
            "latest": latest,
            "graded": graded,
            "refusal": (
                None
                if assignment.released
                else validation.validation_release_refusal(assignment)
            ),
            "refresh": bool(
                (latest and not latest["finished"])
                or (graded and not graded["finished"])
            ),
        },
    )
