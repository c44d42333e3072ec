"""Class-scale reads from standings: leaderboard, progress matrix, stats, exports.

Standings hold one row per participant and assignment (kept current by
submissions.services.standings), so these pages read at most one row per
participant, never every submission; the statistics page sums them.
Pages show at most a page of participants: their cost stays flat as the class
grows.
"""

from collections.abc import Iterator

from django.contrib.auth.models import AbstractUser
from django.db.models import (
    BooleanField,
    Case,
    Count,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from dashboard.progress import NOT_STARTED, PROGRESS_LABELS
from submissions.models import Standing, Submission
from submissions.services.standings import BINS, COUNT_FIELDS, assignment_tallies
from workshops.models import Assignment, Enrollment, Workshop

LEADERBOARD_PAGE = 50
STATS_BOARD_ROWS = 20
# Up to this many participants the matrix shows everyone; above, pages of
# MATRIX_PAGE rows (name and status filters narrow them further).
MATRIX_SHOW_ALL = 300
MATRIX_PAGE = 100
NOT_SUBMITTED_SHOWN = 60
STATUS_LABELS = {
    "running": "Running",
    "graded": "Graded",
    "failed": "Failed",
    "errored": "Error",
    "cancelled": "Cancelled",
}
_BOARD_FIELDS = (
    "participant_id",
    "participant__username",
    "counted_submission_id",
    "counted_score",
    "counted_public_accuracy",
    "counted_private_accuracy",
    "counted_passed_checks",
    "counted_at",
    "graded",
)


def _board(assignment: Assignment):
    return Standing.objects.filter(
        assignment=assignment, listed=True, counted_grade__isnull=False
    )


def _entry(row: dict, rank: int, include_private: bool) -> dict:
    return {
        "rank": rank,
        "submission_id": row["counted_submission_id"],
        "participant_id": row["participant_id"],
        "username": row["participant__username"],
        "score": row["counted_score"],
        "public_accuracy": row["counted_public_accuracy"],
        "private_accuracy": (
            row["counted_private_accuracy"] if include_private else None
        ),
        "passed_checks": row["counted_passed_checks"],
        "submitted_at": row["counted_at"],
        "graded_count": row["graded"],
    }


def leaderboard_count(*, assignment: Assignment) -> int:
    return _board(assignment).count()


def leaderboard(
    *,
    assignment: Assignment,
    include_private: bool,
    offset: int = 0,
    limit: int | None = None,
) -> list[dict]:
    """Return ranked rows: each listed participant's counted submission.

    The counted submission follows the assignment's policy (best or last
    graded). Equal scores share a rank. Private accuracy is left out unless
    asked for. `offset` and `limit` cut one page out of the ranking.
    """
    ordered = _board(assignment).order_by(
        F("counted_score").desc(), "counted_at", "counted_submission_id"
    )
    rows = ordered.values(*_BOARD_FIELDS)
    if limit is not None:
        rows = rows[offset : offset + limit]
    rows = list(rows)
    board, previous, rank = [], None, 0
    for position, row in enumerate(rows, start=offset + 1):
        score = row["counted_score"]
        if score != previous:
            rank, previous = position, score
            if position == offset + 1 and offset:
                ahead = _board(assignment).filter(counted_score__gt=score).count()
                rank = ahead + 1
        board.append(_entry(row, rank, include_private))
    return board


def leaderboard_entry_for(
    *, assignment: Assignment, participant: AbstractUser, include_private: bool
) -> dict | None:
    """Return the participant's own ranked row, wherever it falls."""
    row = _board(assignment).filter(participant=participant).values(*_BOARD_FIELDS)
    row = row.first()
    if row is None:
        return None
    ahead = _board(assignment).filter(counted_score__gt=row["counted_score"]).count()
    return _entry(row, ahead + 1, include_private)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _cell(assignment: Assignment, standing: dict | None) -> dict:
    """Format one matrix cell here: hundreds of template filters cost more."""
    status = standing["progress"] if standing else NOT_STARTED
    label = PROGRESS_LABELS[status]
    attempts = standing["attempts"] if standing else 0
    best = standing["best_score"] if standing else None
    words = [label, _plural(attempts, "attempt")]
    if best is not None:
        words.append(f"best {best:.1f}")
    if status == "failed" and standing["latest_reason"]:
        words.append(f"last: {standing['latest_reason']}")
    return {
        "assignment": assignment,
        "status": status,
        "label": label,
        "best": best,
        "attempts": attempts,
        "text": f"{best:.1f}" if best is not None else "",
        "tries": f"{attempts}×" if attempts else "",
        # Hover text and the screen reader's words: the same sentence.
        "title": " · ".join(words),
    }


def _filtered_people(workshop: Workshop, assignments: list, name: str, status: str):
    people = Enrollment.objects.filter(
        workshop=workshop, role=Enrollment.Role.PARTICIPANT, active=True
    )
    if name:
        people = people.filter(user__username__icontains=name)
    ids = [a.pk for a in assignments]
    if status == NOT_STARTED:
        mine = Standing.objects.filter(
            participant=OuterRef("user_id"), assignment_id__in=ids
        )
        started = (
            mine.exclude(progress=NOT_STARTED)
            .order_by()
            .values("participant")
            .annotate(n=Count("pk"))
            .values("n")
        )
        people = people.annotate(started=Coalesce(Subquery(started), 0)).filter(
            started__lt=len(assignments)
        )
    elif status:
        people = people.filter(
            user_id__in=Standing.objects.filter(
                assignment_id__in=ids, progress=status
            ).values("participant_id")
        )
    return people


def progress_matrix(
    *, workshop: Workshop, name: str = "", status: str = "", page: int = 1
) -> dict:
    """Return participants by assignments: each cell's status, best, attempts.

    Up to MATRIX_SHOW_ALL participants every row is drawn; above that, one
    page of MATRIX_PAGE rows, which the name and status filters narrow.
    """
    assignments = list(Assignment.objects.filter(workshop=workshop).order_by("order"))
    everyone = Enrollment.objects.filter(
        workshop=workshop, role=Enrollment.Role.PARTICIPANT, active=True
    )
    # Who has not submitted: no standing with an attempt (one uncorrelated
    # subquery, evaluated once), counted with everyone in one query.
    submitted = Standing.objects.filter(
        assignment_id__in=[a.pk for a in assignments], attempts__gt=0
    ).values("participant_id")
    counts = everyone.aggregate(
        everyone=Count("pk"), idle=Count("pk", filter=~Q(user_id__in=submitted))
    )
    participant_count, idle_count = counts["everyone"], counts["idle"]
    people = _filtered_people(workshop, assignments, name, status)
    size = participant_count if participant_count <= MATRIX_SHOW_ALL else MATRIX_PAGE
    shown = people.count() if (name or status) else participant_count
    pages = max(1, -(-shown // size)) if size else 1
    page = min(max(page, 1), pages)
    start = (page - 1) * size
    ordered = people.order_by("user__username")
    page_of = ordered.values_list("user_id", "user__username")[start : start + size]
    chosen = list(page_of)
    standings = Standing.objects.filter(assignment__in=assignments)
    if len(chosen) < participant_count:
        # The same page again, as a subquery: cheaper than a list of 100 ids.
        standings = standings.filter(
            participant_id__in=ordered.values("user_id")[start : start + size]
        )
    cells = {
        (participant_id, assignment_id): {
            "progress": progress,
            "attempts": attempts,
            "best_score": best,
            "latest_reason": reason,
        }
        for participant_id, assignment_id, progress, attempts, best, reason in (
            standings.values_list(
                "participant_id",
                "assignment_id",
                "progress",
                "attempts",
                "best_score",
                "latest_reason",
            )
        )
    }
    rows = [
        {
            "username": username,
            "user_id": pk,
            "cells": [_cell(a, cells.get((pk, a.pk))) for a in assignments],
        }
        for pk, username in chosen
    ]
    idle = everyone.exclude(user_id__in=submitted).order_by("user__username")
    return {
        "assignments": assignments,
        "rows": rows,
        "participant_count": participant_count,
        "shown": shown,
        "page": page,
        "pages": pages,
        "first_index": start + 1,
        "last_index": start + len(rows),
        "show_all": MATRIX_SHOW_ALL,
        "not_submitted_count": idle_count,
        "not_submitted": (
            list(idle.values_list("user__username", flat=True)[:NOT_SUBMITTED_SHOWN])
            if idle_count
            else []
        ),
    }


def assignment_stats(*, assignment: Assignment) -> dict:
    """Return status counts, the accuracy histogram and pass rates per check.

    All three are summed from the listed participants' standings: accuracies
    and checks by each one's counted submission ("which checks do people
    fail", not "which checks do retries fail").
    """
    counts, examples = assignment_tallies(assignment_id=assignment.pk)
    tallies = {key: (count, examples.get(key, "")) for key, count in counts.items()}

    def count(key: str) -> int:
        return tallies.get(key, (0, ""))[0]

    status_counts = {
        STATUS_LABELS[name]: count(f"status:{name}")
        for name in COUNT_FIELDS
        if count(f"status:{name}")
    }
    pass_rates = []
    for key, (total, example) in tallies.items():
        if not key.startswith("check:") or total <= 0:
            continue
        cid = key.removeprefix("check:")
        passed = count(f"pass:{cid}")
        pass_rates.append(
            {
                "id": cid,
                "total": total,
                "passed": passed,
                "failed": total - passed,
                "rate": passed / total,
                "example": example,
            }
        )
    pass_rates.sort(key=lambda r: (r["rate"], r["id"]))
    return {
        "leaderboard": leaderboard(
            assignment=assignment, include_private=True, limit=STATS_BOARD_ROWS
        ),
        "status_counts": status_counts,
        "total": sum(status_counts.values()),
        "histogram": [count(f"bin:{i}") for i in range(BINS)],
        "counted": count("counted"),
        "pass_rates": pass_rates,
    }


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _when(value) -> str:
    return "" if value is None else timezone.localtime(value).isoformat("T", "seconds")


def grade_rows_for_export(*, workshop: Workshop) -> Iterator[list]:
    """Yield one CSV row per participant and assignment: the grade that counts."""
    assignments = list(Assignment.objects.filter(workshop=workshop).order_by("order"))
    standings = {
        (s["participant_id"], s["assignment_id"]): s
        for s in Standing.objects.filter(assignment__workshop=workshop).values(
            "participant_id",
            "assignment_id",
            "counted_submission_id",
            "counted_score",
            "counted_public_accuracy",
            "counted_at",
            "best_score",
            "attempts",
            "latest_status",
            "last_submitted_at",
        )
    }
    yield [
        "participant",
        "email",
        "assignment",
        "submission",
        "score",
        "public_accuracy",
        "best_score",
        "attempts",
        "status",
        "submitted_at",
        "late",
    ]
    people = (
        Enrollment.objects.filter(
            workshop=workshop, role=Enrollment.Role.PARTICIPANT, active=True
        )
        .order_by("user__username")
        .values_list("user_id", "user__username", "user__email")
    )
    for user_id, username, email in people:
        for assignment in assignments:
            s = standings.get((user_id, assignment.pk)) or {}
            counted_at = s.get("counted_at")
            late = bool(
                counted_at and assignment.deadline and counted_at > assignment.deadline
            )
            yield [
                username,
                email,
                assignment.slug,
                s.get("counted_submission_id") or "",
                _fmt(s.get("counted_score"), 2),
                _fmt(s.get("counted_public_accuracy")),
                _fmt(s.get("best_score"), 2),
                s.get("attempts", 0),
                s.get("latest_status", ""),
                _when(s.get("last_submitted_at")),
                "yes" if late else "no",
            ]


def submission_rows_for_export(*, workshop: Workshop) -> Iterator[list]:
    """Yield one CSV row per submission of the workshop (the full history)."""
    rows = (
        Submission.objects.filter(assignment__workshop=workshop)
        .annotate(
            late=Case(
                When(
                    assignment__deadline__isnull=False,
                    created_at__gt=F("assignment__deadline"),
                    then=Value(True),
                ),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .order_by("participant__username", "assignment__order", "created_at")
        .values_list(
            "participant__username",
            "participant__email",
            "assignment__slug",
            "pk",
            "current_grade__score",
            "current_grade__public_accuracy",
            "status",
            "created_at",
            "late",
        )
    )
    yield [
        "participant",
        "email",
        "assignment",
        "submission",
        "score",
        "public_accuracy",
        "status",
        "submitted_at",
        "late",
    ]
    for user, email, slug, pk, score, acc, status, created, late in rows.iterator(
        chunk_size=2000
    ):
        yield [
            user,
            email,
            slug,
            pk,
            _fmt(score, 2),
            _fmt(acc),
            status,
            _when(created),
            "yes" if late else "no",
        ]


def leaderboard_rows_for_export(*, assignment: Assignment) -> Iterator[list]:
    """Yield the whole ranking as CSV rows, private accuracy included."""
    yield [
        "rank",
        "participant",
        "score",
        "public_accuracy",
        "private_accuracy",
        "submission",
        "submitted_at",
    ]
    for entry in leaderboard(assignment=assignment, include_private=True):
        yield [
            entry["rank"],
            entry["username"],
            _fmt(entry["score"], 2),
            _fmt(entry["public_accuracy"]),
            _fmt(entry["private_accuracy"]),
            entry["submission_id"],
            _when(entry["submitted_at"]),
        ]
