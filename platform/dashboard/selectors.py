"""Reads for the instructor's pages: class-scale reads, queues and hosts.

Every function here runs a fixed number of queries, whatever the number of
participants or submissions. The leaderboard, progress matrix, statistics and
exports read standings (see dashboard.standings); the rest read active jobs.
"""

import datetime

from celery import current_app
from django.db.models import Count
from django.utils import timezone

from dashboard.standings import (
    assignment_stats,
    grade_rows_for_export,
    leaderboard,
    leaderboard_count,
    leaderboard_entry_for,
    leaderboard_rows_for_export,
    progress_matrix,
    submission_rows_for_export,
)
from submissions.models import ACTIVE_STATUSES, Run, Status, Submission
from workshops.models import Workshop

__all__ = [
    "assignment_stats",
    "celery_inspect",
    "grade_rows_for_export",
    "host_list_alive",
    "job_counts",
    "leaderboard",
    "leaderboard_count",
    "leaderboard_entry_for",
    "leaderboard_rows_for_export",
    "progress_matrix",
    "queue_lengths",
    "submission_rows_for_export",
]


def job_counts(
    *, workshop: Workshop | None = None, assignment_ids: list[int] | None = None
) -> dict[str, int]:
    """Count active submissions by status (the queue lengths the DB knows)."""
    active = Submission.objects.filter(status__in=ACTIVE_STATUSES)
    if workshop is not None:
        # Ids, not a join: the (assignment, status) index then reads only this
        # workshop's active rows.
        if assignment_ids is None:
            assignment_ids = list(workshop.assignments.values_list("pk", flat=True))
        active = active.filter(assignment_id__in=assignment_ids)
    counts = {s: 0 for s in ACTIVE_STATUSES}
    for row in active.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def queue_lengths(*, workshop: Workshop | None = None) -> list[dict]:
    """Return waiting and running jobs per queue, from submission states.

    With ``workshop``, count only that workshop's jobs (None: every workshop).
    """
    active = Submission.objects.filter(status__in=ACTIVE_STATUSES)
    if workshop is not None:
        active = active.filter(assignment__workshop=workshop)
    rows = active.values("assignment__queue", "status").annotate(n=Count("id"))
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


def host_list_alive(
    *, within_seconds: int = 60, workshop: Workshop | None = None
) -> list[dict]:
    """Return hosts whose runs sent a heartbeat recently, with their current jobs.

    With ``workshop``, only that workshop's runs are listed (an instructor sees
    the hosts their own workshop uses, never other workshops' submissions).
    """
    since = timezone.now() - datetime.timedelta(seconds=within_seconds)
    alive = Run.objects.filter(heartbeat_at__gte=since)
    if workshop is not None:
        alive = alive.filter(submission__assignment__workshop=workshop)
    runs = alive.values(
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
    ).order_by("host", "worker", "-heartbeat_at")
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
    # Celery's current app is the project's (config.celery_app sets it up),
    # so the dashboard asks it without importing config, which sits above.
    try:
        inspector = current_app.control.inspect(timeout=timeout)
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
