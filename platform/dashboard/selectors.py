"""Reads for leaderboards, progress and statistics.

Every function here runs a fixed number of queries, whatever the number of
participants or submissions: rows are aggregated in the database (window
functions, grouped counts) and never fetched one participant at a time.
"""

import datetime
from collections import Counter
from collections.abc import Iterator

from django.db.models import BooleanField, Case, Count, F, Q, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from submissions.models import ACTIVE_STATUSES, Run, Status, Submission
from workshops.models import Assignment, Enrollment, Workshop
from workshops.selectors import (
    NOT_STARTED,
    PROGRESS_LABELS,
    progress_cells_query,
    progress_status,
)


def _participant_filter(workshop_id: int) -> Q:
    return Q(
        participant__enrollments__workshop_id=workshop_id,
        participant__enrollments__role=Enrollment.Role.PARTICIPANT,
        participant__enrollments__active=True,
    )


def leaderboard(
    *, assignment: Assignment, include_private: bool, with_checks: bool = False
) -> list[dict]:
    """Return one row per participant: the submission that counts, ranked.

    The counted submission is the best-scored graded one, or the newest graded
    one when the assignment's policy is "last". Private accuracy is left out
    unless asked for; so are the checks.
    """
    if assignment.score_policy == Assignment.ScorePolicy.LAST:
        order = [F("created_at").desc(), F("pk").desc()]
    else:
        order = [F("current_grade__score").desc(), F("created_at").asc()]
    fields = [
        "pk",
        "participant_id",
        "participant__username",
        "created_at",
        "current_grade__score",
        "current_grade__public_accuracy",
        "current_grade__passed_checks",
    ]
    if include_private:
        fields.append("current_grade__private_accuracy")
    if with_checks:
        fields.append("current_grade__checks")
    counted = (
        Submission.objects.filter(
            _participant_filter(assignment.workshop_id),
            assignment=assignment,
            status=Status.GRADED,
            current_grade__isnull=False,
        )
        .annotate(
            rank_in_own=Window(
                RowNumber(), partition_by=[F("participant_id")], order_by=order
            ),
            graded_count=Window(Count("id"), partition_by=[F("participant_id")]),
        )
        .filter(rank_in_own=1)
        .values(*fields, "graded_count")
    )
    rows = sorted(
        counted,
        key=lambda r: (-(r["current_grade__score"] or 0), r["created_at"]),
    )
    board, previous, rank = [], None, 0
    for position, row in enumerate(rows, start=1):
        score = row["current_grade__score"]
        if score != previous:
            rank, previous = position, score
        board.append(
            {
                "rank": rank,
                "submission_id": row["pk"],
                "participant_id": row["participant_id"],
                "username": row["participant__username"],
                "score": score,
                "public_accuracy": row["current_grade__public_accuracy"],
                "private_accuracy": row.get("current_grade__private_accuracy"),
                "passed_checks": row["current_grade__passed_checks"],
                "submitted_at": row["created_at"],
                "graded_count": row["graded_count"],
                "checks": row.get("current_grade__checks") or [],
            }
        )
    return board


def progress_matrix(*, workshop: Workshop, name: str = "", status: str = "") -> dict:
    """Return participants by assignments, each cell with status and best score."""
    assignments = list(Assignment.objects.filter(workshop=workshop).order_by("order"))
    enrollments = Enrollment.objects.filter(
        workshop=workshop, role=Enrollment.Role.PARTICIPANT, active=True
    ).select_related("user")
    cells = {
        (row["participant_id"], row["assignment_id"]): row
        # Non-participants' cells are never looked up, so no enrollment join.
        for row in progress_cells_query(assignment__workshop=workshop)
    }
    rows, not_submitted = [], []
    for enrollment in enrollments.order_by("user__username"):
        user = enrollment.user
        row_cells, total = [], 0
        for assignment in assignments:
            cell = cells.get((user.pk, assignment.pk))
            cell_status = (
                progress_status(
                    total=cell["total"], active=cell["active"], passed=cell["passed"]
                )
                if cell
                else NOT_STARTED
            )
            total += cell["total"] if cell else 0
            best = cell["best"] if cell else None
            count = cell["total"] if cell else 0
            label = PROGRESS_LABELS[cell_status]
            row_cells.append(
                {
                    "assignment": assignment,
                    "status": cell_status,
                    "label": label,
                    "best": best,
                    "submissions": count,
                    # Formatted here: 900 cells of template filters cost more
                    # than the query (bench/pages.py).
                    "title": f"{label} · {count} submission{'' if count == 1 else 's'}",
                    "text": f"{best:.1f}" if best is not None else "",
                }
            )
        if not total:
            not_submitted.append(user)
        if name and name.lower() not in user.username.lower():
            continue
        if status and all(c["status"] != status for c in row_cells):
            continue
        rows.append({"user": user, "cells": row_cells, "submissions": total})
    return {
        "assignments": assignments,
        "rows": rows,
        "not_submitted": not_submitted,
        "participant_count": len(rows) if not (name or status) else None,
    }


def job_counts(*, workshop: Workshop | None = None) -> dict[str, int]:
    """Count active submissions by status (the queue lengths the DB knows)."""
    active = Submission.objects.filter(status__in=ACTIVE_STATUSES)
    if workshop is not None:
        active = active.filter(assignment__workshop=workshop)
    counts = {s: 0 for s in ACTIVE_STATUSES}
    for row in active.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def queue_lengths() -> list[dict]:
    """Return waiting and running jobs per queue, from submission states."""
    rows = (
        Submission.objects.filter(status__in=ACTIVE_STATUSES)
        .values("assignment__queue", "status")
        .annotate(n=Count("id"))
    )
    queues: dict[str, dict] = {}
    for row in rows:
        if row["status"] == Status.EVALUATING:
            name = "evaluate"
        else:
            name = f"train-{row['assignment__queue']}"
        entry = queues.setdefault(name, {"queue": name, "waiting": 0, "running": 0})
        key = "running" if row["status"] == Status.TRAINING else "waiting"
        entry[key] += row["n"]
    return sorted(queues.values(), key=lambda q: q["queue"])


def host_list_alive(*, within_seconds: int = 60) -> list[dict]:
    """Return hosts whose runs sent a heartbeat recently, with their current jobs."""
    since = timezone.now() - datetime.timedelta(seconds=within_seconds)
    runs = (
        Run.objects.filter(heartbeat_at__gte=since)
        .values(
            "host",
            "worker",
            "queue",
            "device",
            "on_gpu",
            "isolation",
            "keras_backend",
            "sandbox_backend",
            "heartbeat_at",
            "finished_at",
            "submission_id",
            "kind",
        )
        .order_by("host", "worker", "-heartbeat_at")
    )
    hosts: dict[str, dict] = {}
    for run in runs:
        host = hosts.setdefault(
            run["host"] or run["worker"],
            {
                "host": run["host"] or run["worker"],
                "workers": set(),
                "queues": set(),
                "devices": set(),
                "isolation": set(),
                "gpu_on_cpu": 0,
                "running": [],
                "last_seen": run["heartbeat_at"],
            },
        )
        host["workers"].add(run["worker"])
        host["queues"].add(run["queue"])
        if run["device"]:
            host["devices"].add(run["device"])
        if run["isolation"]:
            host["isolation"].add(run["isolation"])
        if run["queue"] == "train-gpu" and run["on_gpu"] is False:
            host["gpu_on_cpu"] += 1
        host["last_seen"] = max(host["last_seen"], run["heartbeat_at"])
        if run["finished_at"] is None:
            host["running"].append(run)
    for host in hosts.values():
        for key in ("workers", "queues", "devices", "isolation"):
            host[key] = sorted(host[key])
    return list(hosts.values())


def celery_inspect(timeout: float = 1.0) -> dict:
    """Ask live workers what they run and consume; empty when none answers."""
    from config.celery_app import app

    try:
        inspector = app.control.inspect(timeout=timeout)
        active = inspector.active()
        if not active:
            # Nobody answered: asking the other questions would wait again.
            return {"workers": [], "error": ""}
        queues = inspector.active_queues() or {}
        stats = inspector.stats() or {}
    except Exception as exc:  # noqa: BLE001 - the broker may be down; say so
        return {"workers": [], "error": str(exc)}
    workers = []
    for name in sorted(set(active) | set(queues)):
        pool = (stats.get(name) or {}).get("pool") or {}
        workers.append(
            {
                "name": name,
                "active": len(active.get(name, [])),
                "slots": pool.get("max-concurrency"),
                "tasks": [t.get("name", "") for t in active.get(name, [])],
                "queues": sorted(q.get("name", "") for q in queues.get(name, [])),
            }
        )
    return {"workers": workers, "error": ""}


def assignment_stats(*, assignment: Assignment) -> dict:
    """Return the leaderboard, status counts, accuracies and pass rates per check.

    Accuracies and pass rates count each participant once, by the submission
    that counts for them: "which checks do people fail", not "which checks do
    retries fail", and a cost that grows with people, not with submissions.
    """
    status_counts = dict(
        Submission.objects.filter(assignment=assignment)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    board = leaderboard(assignment=assignment, include_private=True, with_checks=True)
    checks: Counter = Counter()
    passes: Counter = Counter()
    messages: dict[str, str] = {}
    for row in board:
        for check in row["checks"]:
            cid = str(check.get("id", "?"))
            checks[cid] += 1
            if check.get("passed"):
                passes[cid] += 1
            elif cid not in messages:
                messages[cid] = str(check.get("message", ""))
    pass_rates = sorted(
        (
            {
                "id": cid,
                "total": n,
                "passed": passes[cid],
                "failed": n - passes[cid],
                "rate": passes[cid] / n,
                "example": messages.get(cid, ""),
            }
            for cid, n in checks.items()
        ),
        key=lambda r: (r["rate"], r["id"]),
    )
    return {
        "leaderboard": board,
        "status_counts": status_counts,
        "total": sum(status_counts.values()),
        "accuracies": [
            r["public_accuracy"] for r in board if r["public_accuracy"] is not None
        ],
        "pass_rates": pass_rates,
    }


def grade_rows_for_export(*, workshop: Workshop) -> Iterator[list]:
    """Yield one CSV row per submission of the workshop, in a single query."""
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
            "" if score is None else f"{score:.2f}",
            "" if acc is None else f"{acc:.4f}",
            status,
            timezone.localtime(created).isoformat(timespec="seconds"),
            "yes" if late else "no",
        ]


def leaderboard_rows_for_export(*, assignment: Assignment) -> list[list]:
    rows = [
        [
            "rank",
            "participant",
            "score",
            "public_accuracy",
            "private_accuracy",
            "submission",
            "submitted_at",
        ]
    ]
    for entry in leaderboard(assignment=assignment, include_private=True):
        rows.append(
            [
                entry["rank"],
                entry["username"],
                f"{entry['score']:.2f}",
                _fmt(entry["public_accuracy"]),
                _fmt(entry["private_accuracy"]),
                entry["submission_id"],
                timezone.localtime(entry["submitted_at"]).isoformat(timespec="seconds"),
            ]
        )
    return rows


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
