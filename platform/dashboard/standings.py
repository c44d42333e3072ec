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
from submissions.models import Standing, Status, Submission
from submissions.services.standings import (
    BINS,
    BOARD_FIELDS,
    COUNT_FIELDS,
    assignment_tallies,
)
from web.scores import score_text
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
    "counted_score",
    "graded",
    *BOARD_FIELDS,
)
PARTS = ("public", "private")


def _board(assignment: Assignment, part: str):
    return Standing.objects.filter(
        assignment=assignment, listed=True, **{f"{part}_submission__isnull": False}
    )


def _order(part: str) -> list:
    """Return the ranking's order: checks passed, accuracy, earlier first.

    The same order as the standing_public_board / standing_private_board
    indexes, so a page of it is one index range.
    """
    return [
        F(f"{part}_passed_checks").desc(),
        F(f"{part}_accuracy").desc(nulls_last=True),
        f"{part}_at",
        f"{part}_submission_id",
    ]


def _ahead(row: dict, part: str) -> Q:
    """Return the rows ranked before ``row`` on ``part`` (no two share a rank)."""
    passed, accuracy = row[f"{part}_passed_checks"], row[f"{part}_accuracy"]
    at, submission = row[f"{part}_at"], row[f"{part}_submission_id"]
    same_checks = Q(**{f"{part}_passed_checks": passed})
    better = Q(**{f"{part}_accuracy__gt": accuracy})
    same = Q(**{f"{part}_accuracy": accuracy})
    if accuracy is None:  # not measured ranks after every figure
        better, same = (
            Q(**{f"{part}_accuracy__isnull": False}),
            Q(**{f"{part}_accuracy__isnull": True}),
        )
    earlier = Q(**{f"{part}_at__lt": at}) | Q(
        **{f"{part}_at": at, f"{part}_submission_id__lt": submission}
    )
    ahead = same_checks & (better | (same & earlier))
    if not passed:
        ahead |= Q(**{f"{part}_passed_checks": True})
    return ahead


def _entry(row: dict, rank: int, part: str, include_private: bool) -> dict:
    """Return one ranked row; private figures only where they may be seen."""
    public_part = part == "public"
    return {
        "rank": rank,
        "part": part,
        "submission_id": row[f"{part}_submission_id"],
        "participant_id": row["participant_id"],
        "username": row["participant__username"],
        "score": row["counted_score"],
        "public_accuracy": row["public_accuracy"] if public_part else None,
        "private_accuracy": (
            row["private_accuracy"] if include_private or not public_part else None
        ),
        "passed_checks": row[f"{part}_passed_checks"],
        "submitted_at": row[f"{part}_at"],
        "graded_count": row["graded"],
        "finals": row["finals"],
    }


def leaderboard_part(*, assignment: Assignment) -> str:
    """Return the ranking a viewer sees first: private once revealed."""
    return "private" if assignment.private_revealed else "public"


def leaderboard_count(*, assignment: Assignment, part: str = "public") -> int:
    return _board(assignment, part).count()


def leaderboard(
    *,
    assignment: Assignment,
    include_private: bool,
    part: str = "public",
    offset: int = 0,
    limit: int | None = None,
) -> list[dict]:
    """Return ranked rows: each listed participant's entry on one part of the split.

    ``part`` "public" ranks each participant's best submission on the public
    part; "private" ranks the submissions they marked final (or their public
    best) on the private part, and must be asked for only where it may be
    seen. Checks passed rank first, then accuracy; the earlier submission
    breaks a tie, so every rank is one person's. Private accuracy is left out
    of the public ranking unless ``include_private``. ``offset`` and ``limit``
    cut one page out of the ranking.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    rows = _board(assignment, part).order_by(*_order(part)).values(*_BOARD_FIELDS)
    if limit is not None:
        rows = rows[offset : offset + limit]
    return [
        _entry(row, rank, part, include_private)
        for rank, row in enumerate(rows, start=offset + 1)
    ]


def leaderboard_entry_for(
    *,
    assignment: Assignment,
    participant: AbstractUser,
    include_private: bool,
    part: str = "public",
) -> dict | None:
    """Return the participant's own ranked row, wherever it falls."""
    board = _board(assignment, part)
    row = board.filter(participant=participant).values(*_BOARD_FIELDS).first()
    if row is None:
        return None
    ahead = board.filter(_ahead(row, part)).count()
    return _entry(row, ahead + 1, part, include_private)


FINAL_CHOICES_SHOWN = 10


def final_choices(*, assignment: Assignment, participant: AbstractUser) -> list[dict]:
    """Return the participant's graded submissions to choose their final ones from.

    Those marked final, then their best on the public part, at most
    FINAL_CHOICES_SHOWN in all (two bounded queries, whatever they sent).
    """
    fields = (
        "pk",
        "created_at",
        "final_at",
        "current_grade__score",
        "current_grade__public_accuracy",
        "current_grade__passed_checks",
    )
    graded = Submission.objects.filter(
        participant=participant,
        assignment=assignment,
        reference=False,
        status=Status.GRADED,
        current_grade__isnull=False,
    )
    marked = list(
        graded.filter(final_at__isnull=False)
        .order_by("-final_at", "-pk")
        .values(*fields)[:FINAL_CHOICES_SHOWN]
    )
    best = graded.filter(final_at__isnull=True).order_by(
        "-current_grade__passed_checks",
        F("current_grade__public_accuracy").desc(nulls_last=True),
        "created_at",
        "pk",
    )
    rows = marked + list(best.values(*fields)[: FINAL_CHOICES_SHOWN - len(marked)])
    return [
        {
            "submission_id": row["pk"],
            "submitted_at": row["created_at"],
            "final": row["final_at"] is not None,
            "score": row["current_grade__score"],
            "public_accuracy": row["current_grade__public_accuracy"],
            "passed_checks": row["current_grade__passed_checks"],
        }
        for row in rows
    ]


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
        words.append(f"best {score_text(best)}")
    if status == "failed" and standing["latest_reason"]:
        words.append(f"last: {standing['latest_reason']}")
    return {
        "assignment": assignment,
        "status": status,
        "label": label,
        "best": best,
        "attempts": attempts,
        "text": score_text(best) if best is not None else "",
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
            "counted_private_accuracy",
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
        "private_accuracy",
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
                _fmt(s.get("counted_private_accuracy")),
                _fmt(s.get("best_score"), 2),
                s.get("attempts", 0),
                s.get("latest_status", ""),
                _when(s.get("last_submitted_at")),
                "yes" if late else "no",
            ]


def submission_rows_for_export(*, workshop: Workshop) -> Iterator[list]:
    """Yield one CSV row per submission of the workshop (the full history)."""
    rows = (
        Submission.objects.filter(assignment__workshop=workshop, reference=False)
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
            "current_grade__private_accuracy",
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
        "private_accuracy",
        "status",
        "submitted_at",
        "late",
    ]
    for row in rows.iterator(chunk_size=2000):
        user, email, slug, pk, score, acc, private, status, created, late = row
        yield [
            user,
            email,
            slug,
            pk,
            _fmt(score, 2),
            _fmt(acc),
            _fmt(private),
            status,
            _when(created),
            "yes" if late else "no",
        ]


def leaderboard_rows_for_export(*, assignment: Assignment) -> Iterator[list]:
    """Yield the whole ranking as CSV rows: both parts' ranks and accuracies.

    One row per listed participant, in the public ranking's order; the private
    rank and accuracy are those of the submissions that count at the close.
    """
    yield [
        "public_rank",
        "private_rank",
        "participant",
        "public_accuracy",
        "public_submission",
        "private_accuracy",
        "private_submission",
        "finals_marked",
        "score",
        "passed_checks",
        "submitted_at",
    ]
    private_ranks = {
        participant_id: rank
        for rank, participant_id in enumerate(
            _board(assignment, "private")
            .order_by(*_order("private"))
            .values_list("participant_id", flat=True)
            .iterator(chunk_size=2000),
            start=1,
        )
    }
    rows = (
        _board(assignment, "public")
        .order_by(*_order("public"))
        .values(*_BOARD_FIELDS)
        .iterator(chunk_size=2000)
    )
    for rank, row in enumerate(rows, start=1):
        yield [
            rank,
            private_ranks.get(row["participant_id"], ""),
            row["participant__username"],
            _fmt(row["public_accuracy"]),
            row["public_submission_id"],
            _fmt(row["private_accuracy"]),
            row["private_submission_id"] or "",
            row["finals"],
            _fmt(row["counted_score"], 2),
            "yes" if row["public_passed_checks"] else "no",
            _when(row["public_at"]),
        ]
