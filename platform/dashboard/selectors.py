"""Reads for the instructor's pages: class-scale reads, queues and hosts.

Every function here runs a fixed number of queries, whatever the number of
participants or submissions. The leaderboard, progress matrix, statistics and
exports read standings (see dashboard.standings); the rest read active jobs.
"""

import datetime
from collections.abc import Callable

from celery import current_app
from django.conf import settings
from django.db.models import Count, Max, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from checks.models import WORKING_CHECK_STATUSES, CheckRun
from dashboard.board_cache import leaderboard_page
from dashboard.standings import (
    assignment_stats,
    final_choices,
    grade_rows_for_export,
    leaderboard,
    leaderboard_count,
    leaderboard_entry_for,
    leaderboard_part,
    leaderboard_rows_for_export,
    progress_matrix,
    submission_rows_for_export,
)
from jobs.queues import JobQueue
from submissions.models import ACTIVE_STATUSES, Run, Status, Submission
from submissions.prediction_rows import (
    WAITING_PREDICTION_STATUSES,
    Prediction,
    PredictionKind,
    PredictionStatus,
)
from submissions.selectors import submissions_graded_before_version
from workshops.models import Workshop

__all__ = [
    "assignment_stats",
    "celery_inspect",
    "final_choices",
    "grade_rows_for_export",
    "host_list_alive",
    "job_counts",
    "leaderboard",
    "leaderboard_count",
    "leaderboard_entry_for",
    "leaderboard_page",
    "leaderboard_part",
    "leaderboard_rows_for_export",
    "progress_matrix",
    "queue_lengths",
    "submission_rows_for_export",
    "worker_list",
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
    """Return waiting and running jobs per queue, from submission and
    prediction states (a prediction counts while its asker still waits).

    With ``workshop``, count only that workshop's jobs (None: every workshop).
    """
    active = Submission.objects.filter(status__in=ACTIVE_STATUSES)
    asking = Prediction.objects.filter(
        status__in=WAITING_PREDICTION_STATUSES, expires_at__gt=timezone.now()
    )
    if workshop is not None:
        active = active.filter(assignment__workshop=workshop)
        asking = asking.filter(submission__assignment__workshop=workshop)
    rows = active.values("assignment__queue", "status").annotate(n=Count("id"))
    queues: dict[str, dict] = {}

    def count(name: str, *, running: bool, n: int) -> None:
        entry = queues.setdefault(name, {"queue": name, "waiting": 0, "running": 0})
        entry["running" if running else "waiting"] += n

    for row in rows:
        if row["status"] == Status.EVALUATING:
            name = "evaluate"
        else:
            name = f"train-{row['assignment__queue']}"
        count(name, running=row["status"] == Status.TRAINING, n=row["n"])
    for row in asking.values("status").annotate(n=Count("id")):
        running = row["status"] == PredictionStatus.RUNNING
        count(JobQueue.PREDICT.value, running=running, n=row["n"])
    return sorted(queues.values(), key=lambda q: q["queue"])


def host_list_alive(
    *, within_seconds: int = 60, workshop: Workshop | None = None
) -> list[dict]:
    """Return hosts whose jobs sent a heartbeat recently, with their current jobs.

    Every kind of job is listed, per host and slot: trainings, evaluations,
    regrades (a re-evaluation of a regrade batch), check runs and "try your
    model" predictions (a predictor's host shows while it answers: one row per
    worker, however many it answered). With ``workshop``, only that workshop's
    jobs are listed (an instructor sees the hosts their own workshop uses,
    never other workshops' submissions).
    """
    since = timezone.now() - datetime.timedelta(seconds=within_seconds)
    alive = Run.objects.filter(heartbeat_at__gte=since)
    checks = CheckRun.objects.filter(
        status__in=WORKING_CHECK_STATUSES, heartbeat_at__gte=since
    )
    predicting = Prediction.objects.filter(heartbeat_at__gte=since)
    if workshop is not None:
        alive = alive.filter(submission__assignment__workshop=workshop)
        checks = checks.filter(assignment__workshop=workshop)
        predicting = predicting.filter(submission__assignment__workshop=workshop)
    runs = alive.values(
        "host",
        "worker",
        "queue",
        "device",
        "on_gpu",
        "slot",
        "isolation",
        "keras_backend",
        "sandbox_backend",
        "heartbeat_at",
        "finished_at",
        "submission_id",
        "submission__batch_id",
        "kind",
    ).order_by("host", "worker", "-heartbeat_at")
    hosts: dict[str, dict] = {}

    def host_of(name: str, worker: str, seen: datetime.datetime) -> dict:
        host = hosts.setdefault(
            name,
            {
                "host": name,
                "workers": set(),
                "queues": set(),
                "devices": set(),
                "isolation": set(),
                "gpu_on_cpu": 0,
                "running": [],
                "last_seen": seen,
            },
        )
        host["workers"].add(worker)
        host["last_seen"] = max(host["last_seen"], seen)
        return host

    for run in runs:
        host = host_of(run["host"] or run["worker"], run["worker"], run["heartbeat_at"])
        host["queues"].add(run["queue"])
        if run["device"]:
            host["devices"].add(run["device"])
        if run["isolation"]:
            host["isolation"].add(run["isolation"])
        if run["queue"] == "train-gpu" and run["on_gpu"] is False:
            host["gpu_on_cpu"] += 1
        if run["finished_at"] is None:
            kind = _run_kind(run["kind"], regrade=run["submission__batch_id"])
            host["running"].append(
                {
                    "kind": kind,
                    "label": f"#{run['submission_id']}",
                    "url": reverse("submission-detail", args=[run["submission_id"]]),
                    "slot": run["slot"],
                }
            )
    for check in checks.values("pk", "worker", "heartbeat_at"):
        worker = check["worker"]
        host = host_of(_worker_host(worker), worker, check["heartbeat_at"])
        host["queues"].add(JobQueue.CHECK.value)
        host["running"].append(
            {
                "kind": "check run",
                "label": f"check {check['pk']}",
                "url": reverse("check-detail", args=[check["pk"]]),
                "slot": None,
            }
        )
    _predictions_per_host(predicting, host_of)
    for host in hosts.values():
        for key in ("workers", "queues", "devices", "isolation"):
            host[key] = sorted(host[key])
        host["running"].sort(key=lambda job: (job["slot"] is None, job["slot"] or 0))
    return list(hosts.values())


def _worker_host(worker: str) -> str:
    """Return the host of a Celery worker's name (`name@host`)."""
    return worker.rpartition("@")[2] or worker


def _predictions_per_host(
    predicting: QuerySet[Prediction],
    host_of: Callable[[str, str, datetime.datetime], dict],
) -> None:
    """Add the predictor hosts that answered lately, and what they answer now.

    One aggregate per worker and the running ones (at most the room's cap on
    waiting predictions): never a row per answered image.
    """
    latest = predicting.values("worker").annotate(last=Max("heartbeat_at"))
    for row in latest.order_by("worker"):
        host = host_of(_worker_host(row["worker"]), row["worker"], row["last"])
        host["queues"].add(JobQueue.PREDICT.value)
    running = predicting.filter(status=PredictionStatus.RUNNING).values(
        "pk", "worker", "kind", "submission_id", "heartbeat_at"
    )
    for row in running.order_by("pk"):
        host = host_of(_worker_host(row["worker"]), row["worker"], row["heartbeat_at"])
        host["running"].append(
            {
                "kind": PredictionKind(row["kind"]).label,
                "label": f"prediction {row['pk']}",
                "url": reverse("submission-detail", args=[row["submission_id"]]),
                "slot": None,
            }
        )


def _run_kind(kind: str, *, regrade: int | None) -> str:
    if kind == Run.Kind.TRAIN:
        return "training"
    return "regrade" if regrade else "evaluation"


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


def worker_list(*, inspect: dict, workshop: Workshop | None = None) -> list[dict]:
    """Return every worker the broker or the database knows is there, and its state.

    A worker busy with long jobs often leaves the broker's ping unanswered; the
    database still sees its open runs and their heartbeats, which tell a busy
    worker ("running 3 jobs, last heartbeat 4 s ago") from a dead one ("no
    heartbeat for 5 min"). One aggregate per job table, one row per worker.
    """
    now = timezone.now()
    grace = settings.DOJO_HEARTBEAT_GRACE_SECONDS
    open_runs = Run.objects.filter(finished_at__isnull=True)
    checks = CheckRun.objects.filter(status__in=WORKING_CHECK_STATUSES)
    predicting = Prediction.objects.filter(status=PredictionStatus.RUNNING)
    if workshop is not None:
        open_runs = open_runs.filter(submission__assignment__workshop=workshop)
        checks = checks.filter(assignment__workshop=workshop)
        predicting = predicting.filter(submission__assignment__workshop=workshop)
    seen: dict[str, dict] = {}
    for query in (open_runs, checks, predicting):
        rows = query.values("worker").annotate(
            n=Count("pk"), last=Max(Coalesce("heartbeat_at", "started_at"))
        )
        for row in rows:
            entry = seen.setdefault(row["worker"], {"jobs": 0, "last": None})
            entry["jobs"] += row["n"]
            if row["last"] is not None:
                entry["last"] = max(filter(None, (entry["last"], row["last"])))
    workers = [
        {
            **worker,
            "state": f"answering: {worker['active']} active "
            f"task{'s' if worker['active'] != 1 else ''}",
            "alive": True,
        }
        for worker in inspect["workers"]
    ]
    answered = {worker["name"] for worker in workers}
    for name, entry in sorted(seen.items()):
        if name in answered or not name:
            continue
        quiet = (now - entry["last"]).total_seconds() if entry["last"] else None
        workers.append(
            {
                "name": name,
                "queues": [],
                "slots": None,
                "active": entry["jobs"],
                "alive": quiet is None or quiet <= grace,
                "state": _silent_state(jobs=entry["jobs"], quiet=quiet, grace=grace),
            }
        )
    return workers


def _silent_state(*, jobs: int, quiet: float | None, grace: float) -> str:
    """Say what the database shows of a worker that did not answer the ping."""
    running = f"{jobs} job{'s' if jobs != 1 else ''}"
    if quiet is None:
        return f"starting: {running}, no heartbeat yet"
    if quiet <= grace:
        return f"busy: running {running}, last heartbeat {_ago(quiet)} ago"
    return (
        f"no heartbeat for {_ago(quiet)}: it may have stopped; the reconciler "
        f"requeues its {running}"
    )


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{max(0, int(seconds))} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"


def submissions_graded_under_older_version(*, assignment) -> int:
    """Return how many submissions' current grade predates the assignment's version.

    One count: what the offer to regrade after a new version is made of, and
    exactly what its button re-evaluates (a cancelled rerun keeps its old grade
    and cannot be re-evaluated; a reference run is validated again instead).
    """
    return submissions_graded_before_version(assignment=assignment).count()
