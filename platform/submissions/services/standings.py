"""Keep each participant's standing on each assignment current.

A Standing row folds one participant's submissions to one assignment into what
the class-scale pages show (counted grade, best score, attempts, latest status).
It is refreshed by explicit call: `submission_move` (every status change) and
the intake call `standing_refresh` in their transaction, after locking the
submission row, so the lock order is always Enrollment (intake only) ->
Submission -> Standing. A move between two active statuses changes only the
latest status and reason: `standing_status_note` writes those two fields. No
shared row is written: the assignment's status counts, accuracy histogram and
check pass rates are summed from the listed standings when the statistics page
asks (`assignment_tallies`), so two participants' uploads never wait for each
other. `standings_rebuild`
recomputes the rows from scratch (seeding, a score policy change, repair) and
`standings_check` compares them with a fresh computation.
"""

from collections import Counter
from collections.abc import Iterable, Iterator

from django.db import transaction
from django.db.models import Case, CharField, F, Q, Sum, TextField, Value, When

from submissions.models import (
    ACTIVE_STATUSES,
    Grade,
    Standing,
    Status,
    Submission,
)
from workshops.boards import board_version_bump
from workshops.models import Assignment, Enrollment

BINS = 10
COUNT_FIELDS = ("running", "graded", "failed", "errored", "cancelled")
_COUNT_OF_STATUS = {
    Status.GRADED: "graded",
    Status.FAILED: "failed",
    Status.ERROR: "errored",
    Status.CANCELLED: "cancelled",
    **{status: "running" for status in ACTIVE_STATUSES},
}
# What a standing is made of: these fields of each of the pair's submissions.
FACT_FIELDS = (
    "pk",
    "participant_id",
    "assignment_id",
    "status",
    "status_reason",
    "created_at",
    "current_grade_id",
    "current_grade__score",
    "current_grade__public_accuracy",
    "current_grade__private_accuracy",
    "current_grade__passed_checks",
    "final_at",
)
# The leaderboard's two entries (see _board_values).
BOARD_FIELDS = (
    "public_submission_id",
    "public_accuracy",
    "public_passed_checks",
    "public_at",
    "private_submission_id",
    "private_accuracy",
    "private_passed_checks",
    "private_at",
    "finals",
)
# What a leaderboard row shows of a standing (dashboard/standings.py).
BOARD_SHOWN = ("listed", "counted_score", "graded", *BOARD_FIELDS)
# The values standing_values() returns, in the order the check compares them.
VALUE_FIELDS = (
    "listed",
    "progress",
    "attempts",
    *COUNT_FIELDS,
    "passed",
    "best_score",
    "counted_submission_id",
    "counted_grade_id",
    "counted_score",
    "counted_public_accuracy",
    "counted_private_accuracy",
    "counted_passed_checks",
    "counted_at",
    "latest_submission_id",
    "latest_status",
    "latest_reason",
    "last_submitted_at",
    *BOARD_FIELDS,
)
REASON_LENGTH = 300


def accuracy_bin(value: float) -> int:
    """Return the histogram bin (0 to BINS - 1) of an accuracy between 0 and 1."""
    return max(0, min(int(value * BINS), BINS - 1))


def _checks(raw: object) -> list[dict]:
    """Return the well-formed checks of a stored grade, ignoring anything else."""
    if not isinstance(raw, list):
        return []
    return [c for c in raw if isinstance(c, dict)]


def _check_id(check: dict) -> str:
    return str(check.get("id", "?"))[:100]


def _better(row: dict, than: dict, policy: str) -> bool:
    """Say whether a graded submission counts before another under the policy."""
    if policy == Assignment.ScorePolicy.LAST:
        return (row["created_at"], row["pk"]) > (than["created_at"], than["pk"])
    mine = (-(row["current_grade__score"] or 0), row["created_at"], row["pk"])
    theirs = (-(than["current_grade__score"] or 0), than["created_at"], than["pk"])
    return mine < theirs


def _reason(latest: dict, checks: dict[int, list]) -> str:
    """Return why the latest submission ended as it did, in words to act on."""
    if latest["status_reason"]:
        return latest["status_reason"][:REASON_LENGTH]
    if latest["status"] == Status.GRADED and not latest["current_grade__passed_checks"]:
        for check in _checks(checks.get(latest["current_grade_id"])):
            if not check.get("passed"):
                return str(check.get("message", ""))[:REASON_LENGTH]
    return ""


def _needed_grades(rows: list[dict], policy: str) -> tuple[dict | None, dict | None]:
    """Return the counted and the latest submission among a pair's rows."""
    counted = latest = None
    for row in rows:
        if latest is None or (row["created_at"], row["pk"]) > (
            latest["created_at"],
            latest["pk"],
        ):
            latest = row
        if row["status"] == Status.GRADED and row["current_grade_id"]:
            if counted is None or _better(row, counted, policy):
                counted = row
    return counted, latest


def _on_board(row: dict) -> bool:
    return (
        row["status"] == Status.GRADED
        and bool(row["current_grade_id"])
        and row["current_grade__public_accuracy"] is not None
    )


def _board_key(row: dict, accuracy_field: str) -> tuple:
    """Order a pair's graded submissions, best first, on one part of the split.

    Submissions that pass the checks come first (a model that breaks the
    assignment's rules does not win on accuracy), then higher accuracy, then
    the earlier submission: who got there first keeps the tie.
    """
    accuracy = row[accuracy_field]
    return (
        not row["current_grade__passed_checks"],
        -(accuracy if accuracy is not None else -1.0),
        row["created_at"],
        row["pk"],
    )


def _board_values(rows: list[dict], final_limit: int) -> dict:
    """Return the pair's leaderboard entries: its best public and its private one.

    The private entry is the best on the private part among the graded
    submissions marked final (the ``final_limit`` most recently marked), or
    the public entry where none is.
    """
    graded = [row for row in rows if _on_board(row)]
    values = dict.fromkeys(BOARD_FIELDS)
    values.update(public_passed_checks=False, private_passed_checks=False, finals=0)
    if not graded:
        return values
    public = min(graded, key=lambda r: _board_key(r, "current_grade__public_accuracy"))
    marked = sorted(
        (row for row in graded if row["final_at"] is not None),
        key=lambda r: (r["final_at"], r["pk"]),
        reverse=True,
    )[:final_limit]
    private = min(
        marked or [public],
        key=lambda r: _board_key(r, "current_grade__private_accuracy"),
    )
    values.update(
        public_submission_id=public["pk"],
        public_accuracy=public["current_grade__public_accuracy"],
        public_passed_checks=bool(public["current_grade__passed_checks"]),
        public_at=public["created_at"],
        private_submission_id=private["pk"],
        private_accuracy=private["current_grade__private_accuracy"],
        private_passed_checks=bool(private["current_grade__passed_checks"]),
        private_at=private["created_at"],
        finals=len(marked),
    )
    return values


def standing_values(
    *,
    rows: list[dict],
    policy: str,
    listed: bool,
    checks: dict[int, list],
    final_limit: int = 2,
) -> dict:
    """Fold one pair's submissions (FACT_FIELDS) into a standing's values.

    `checks` maps grade ids to their checks; it needs the counted and the
    latest submission's grades.
    """
    counts = dict.fromkeys(COUNT_FIELDS, 0)
    passed, best = False, None
    for row in rows:
        counts[_COUNT_OF_STATUS[row["status"]]] += 1
        if row["status"] == Status.GRADED and row["current_grade_id"]:
            passed = passed or bool(row["current_grade__passed_checks"])
            score = row["current_grade__score"]
            best = score if best is None else max(best, score)
    counted, latest = _needed_grades(rows, policy)
    attempts = len(rows) - counts["cancelled"]
    if counts["running"]:
        progress = Standing.Progress.RUNNING
    elif passed:
        progress = Standing.Progress.PASSED
    elif attempts:
        progress = Standing.Progress.FAILED
    else:
        progress = Standing.Progress.NOT_STARTED
    values = {
        "listed": listed,
        "progress": str(progress),
        "attempts": attempts,
        **counts,
        "passed": passed,
        "best_score": best,
        "counted_submission_id": None,
        "counted_grade_id": None,
        "counted_score": None,
        "counted_public_accuracy": None,
        "counted_private_accuracy": None,
        "counted_passed_checks": False,
        "counted_at": None,
        "latest_submission_id": None,
        "latest_status": "",
        "latest_reason": "",
        "last_submitted_at": None,
    }
    if counted is not None:
        values.update(
            counted_submission_id=counted["pk"],
            counted_grade_id=counted["current_grade_id"],
            counted_score=counted["current_grade__score"],
            counted_public_accuracy=counted["current_grade__public_accuracy"],
            counted_private_accuracy=counted["current_grade__private_accuracy"],
            counted_passed_checks=bool(counted["current_grade__passed_checks"]),
            counted_at=counted["created_at"],
        )
    if latest is not None:
        values.update(
            latest_submission_id=latest["pk"],
            latest_status=latest["status"],
            latest_reason=_reason(latest, checks),
            last_submitted_at=latest["created_at"],
        )
    values.update(_board_values(rows, final_limit))
    return values


def contribution(values: dict, checks: list[dict]) -> Counter:
    """Return what a standing adds to its assignment's tallies."""
    if not values["listed"]:
        return Counter()
    added = Counter({f"status:{k}": values[k] for k in COUNT_FIELDS if values[k]})
    if values["counted_grade_id"]:
        added["counted"] += 1
        if values["counted_public_accuracy"] is not None:
            added[f"bin:{accuracy_bin(values['counted_public_accuracy'])}"] += 1
        for check in _checks(checks):
            added[f"check:{_check_id(check)}"] += 1
            if check.get("passed"):
                added[f"pass:{_check_id(check)}"] += 1
    return added


def failure_examples(values: dict, checks: list[dict]) -> dict[str, str]:
    """Return a failure message per failed check of a listed counted grade."""
    if not values["listed"] or not values["counted_grade_id"]:
        return {}
    return {
        f"check:{_check_id(c)}": str(c.get("message", ""))[:REASON_LENGTH]
        for c in _checks(checks)
        if not c.get("passed")
    }


def _grade_checks(grade_ids: Iterable[int | None]) -> dict[int, list]:
    wanted = sorted({g for g in grade_ids if g})
    found: dict[int, list] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(Grade.objects.filter(pk__in=chunk).values_list("pk", "checks"))
    return found


def _shown(values: dict) -> bool:
    """Say whether a standing's values put the pair on its leaderboards."""
    return bool(values["listed"]) and values["public_submission_id"] is not None


def _board_changed(old: dict, new: dict | None) -> bool:
    """Say whether a refresh changed what a leaderboard shows of the pair."""
    if new is None:
        return _shown(old)
    if not (_shown(old) or _shown(new)):
        return False
    return any(old[name] != new[name] for name in BOARD_SHOWN)


def _is_listed(*, participant_id: int, workshop_id: int) -> bool:
    return Enrollment.objects.filter(
        user_id=participant_id,
        workshop_id=workshop_id,
        role=Enrollment.Role.PARTICIPANT,
        active=True,
    ).exists()


def standing_refresh(*, participant_id: int, assignment_id: int) -> Standing | None:
    """Recompute one participant's standing on one assignment.

    Runs in the caller's transaction (or its own), after the caller locked the
    submission it changed; the standing row is locked next, so concurrent
    refreshes of one pair apply their changes in turn.
    """
    with transaction.atomic():
        found = (
            Assignment.objects.filter(pk=assignment_id)
            .values_list("workshop_id", "score_policy", "final_limit")
            .first()
        )
        if found is None:  # deleted with its workshop: so are its standings
            return None
        workshop_id, policy, final_limit = found
        pair = {"participant_id": participant_id, "assignment_id": assignment_id}
        standing = Standing.objects.select_for_update().filter(**pair).first()
        if standing is None:
            if not Submission.objects.filter(**pair, reference=False).exists():
                return None
            Standing.objects.bulk_create([Standing(**pair)], ignore_conflicts=True)
            standing = Standing.objects.select_for_update().get(**pair)
        # Read only now, under the standing's lock: a concurrent refresh of the
        # pair has committed, so its submission's change is seen here.
        rows = list(
            Submission.objects.filter(**pair, reference=False).values(*FACT_FIELDS)
        )
        old = {name: getattr(standing, name) for name in VALUE_FIELDS}
        listed = _is_listed(participant_id=participant_id, workshop_id=workshop_id)
        counted, latest = _needed_grades(rows, policy)
        checks = _grade_checks(
            [
                counted and counted["current_grade_id"],
                latest and latest["current_grade_id"],
            ]
        )
        new = standing_values(
            rows=rows,
            policy=policy,
            listed=listed,
            checks=checks,
            final_limit=final_limit,
        )
        if _board_changed(old, new if rows else None):
            board_version_bump(workshop_ids=[workshop_id])
        if not rows:
            standing.delete()
            return None
        if new != old:
            for name, value in new.items():
                setattr(standing, name, value)
            standing.save()
        return standing


def standing_status_note(
    *,
    participant_id: int,
    assignment_id: int,
    submission_id: int,
    status: str,
    reason: str,
) -> bool:
    """Record a move between two active statuses in one UPDATE; say if it was.

    Between active statuses nothing a standing folds changes but the latest
    submission's status and reason (the counts count it as running either way,
    and only graded submissions reach the board), so a queued, started or
    evaluated job writes two fields instead of refreshing the whole standing.
    False where the pair has no standing yet: the caller refreshes it.
    """
    latest = Q(latest_submission_id=submission_id)
    return bool(
        Standing.objects.filter(
            participant_id=participant_id, assignment_id=assignment_id
        ).update(
            latest_status=Case(
                When(latest, then=Value(str(status))),
                default=F("latest_status"),
                output_field=CharField(),
            ),
            latest_reason=Case(
                When(latest, then=Value(reason[:REASON_LENGTH])),
                default=F("latest_reason"),
                output_field=TextField(),
            ),
        )
    )


def assignment_tallies(*, assignment_id: int) -> tuple[Counter, dict[str, str]]:
    """Sum the listed standings into the assignment's counts (statuses, bins, checks).

    Return the counts (keys as `contribution` makes them) and one failure
    message per check. Read when a page asks: one aggregate over the
    standings and one read of the counted grades' checks, instead of shared
    counter rows every submission would have to update.
    """
    listed = Standing.objects.filter(assignment_id=assignment_id, listed=True)
    sums = listed.aggregate(**{name: Sum(name) for name in COUNT_FIELDS})
    tallies = Counter({f"status:{k}": v for k, v in sums.items() if v})
    counted = listed.filter(counted_grade__isnull=False)
    accuracies = counted.values_list("counted_public_accuracy", flat=True)
    for accuracy in accuracies:
        tallies["counted"] += 1
        if accuracy is not None:
            tallies[f"bin:{accuracy_bin(accuracy)}"] += 1
    examples: dict[str, str] = {}
    grades = (
        Grade.objects.filter(pk__in=counted.values("counted_grade_id"))
        .order_by("pk")
        .values_list("checks", flat=True)
    )
    for checks in grades.iterator(chunk_size=2000):
        for check in _checks(checks):
            key = _check_id(check)
            tallies[f"check:{key}"] += 1
            if check.get("passed"):
                tallies[f"pass:{key}"] += 1
            else:
                message = str(check.get("message", ""))[:REASON_LENGTH]
                examples.setdefault(f"check:{key}", message)
    return tallies, examples


def standings_relist(*, participant_id: int, workshop_id: int) -> None:
    """Refresh a participant's standings in a workshop after an enrollment change."""
    assignment_ids = Standing.objects.filter(
        participant_id=participant_id, assignment__workshop_id=workshop_id
    ).values_list("assignment_id", flat=True)
    for assignment_id in list(assignment_ids):
        standing_refresh(participant_id=participant_id, assignment_id=assignment_id)


def standings_compute(*, assignment: Assignment) -> tuple[list[dict], Counter, dict]:
    """Compute an assignment's standings and tallies from its submissions.

    Return the standings' values (with participant_id and assignment_id), the
    tallies' counts and one failure example per check.
    """
    listed = set(
        Enrollment.objects.filter(
            workshop_id=assignment.workshop_id,
            role=Enrollment.Role.PARTICIPANT,
            active=True,
        ).values_list("user_id", flat=True)
    )
    by_participant: dict[int, list[dict]] = {}
    for row in (
        Submission.objects.filter(assignment=assignment, reference=False)
        .order_by()
        .values(*FACT_FIELDS)
        .iterator(chunk_size=5000)
    ):
        by_participant.setdefault(row["participant_id"], []).append(row)
    needed = []
    for rows in by_participant.values():
        counted, latest = _needed_grades(rows, assignment.score_policy)
        needed += [counted and counted["current_grade_id"], latest["current_grade_id"]]
    checks = _grade_checks(needed)
    standings, tallies, examples = [], Counter(), {}
    for participant_id, rows in sorted(by_participant.items()):
        values = standing_values(
            rows=rows,
            policy=assignment.score_policy,
            listed=participant_id in listed,
            checks=checks,
            final_limit=assignment.final_limit,
        )
        counted_checks = checks.get(values["counted_grade_id"], [])
        tallies.update(contribution(values, counted_checks))
        for key, message in failure_examples(values, counted_checks).items():
            examples.setdefault(key, message)
        standings.append(
            {"participant_id": participant_id, "assignment_id": assignment.pk, **values}
        )
    return standings, tallies, examples


def standings_rebuild(*, assignments: Iterable[Assignment]) -> int:
    """Replace the assignments' standings with a fresh computation."""
    made = 0
    for assignment in assignments:
        standings, _, _ = standings_compute(assignment=assignment)
        with transaction.atomic():
            Standing.objects.filter(assignment=assignment).delete()
            Standing.objects.bulk_create(
                [Standing(**values) for values in standings], batch_size=1000
            )
            board_version_bump(workshop_ids=[assignment.workshop_id])
        made += len(standings)
    return made


def standings_check(*, assignments: Iterable[Assignment]) -> Iterator[str]:
    """Yield each difference between stored and freshly computed standings."""
    for assignment in assignments:
        expected, tallies, _ = standings_compute(assignment=assignment)
        stored = {
            row["participant_id"]: row
            for row in Standing.objects.filter(assignment=assignment).values(
                "participant_id", *VALUE_FIELDS
            )
        }
        for values in expected:
            row = stored.pop(values["participant_id"], None)
            where = f"{assignment}: participant {values['participant_id']}"
            if row is None:
                yield f"{where}: standing missing"
                continue
            for name in VALUE_FIELDS:
                if row[name] != values[name]:
                    yield f"{where}: {name} is {row[name]!r}, expected {values[name]!r}"
        for participant_id in stored:
            yield f"{assignment}: participant {participant_id}: standing not expected"
        kept, _ = assignment_tallies(assignment_id=assignment.pk)
        for key in sorted(set(kept) | {k for k, v in tallies.items() if v}):
            if kept.get(key, 0) != tallies.get(key, 0):
                yield (
                    f"{assignment}: tally {key} is {kept.get(key, 0)}, "
                    f"expected {tallies.get(key, 0)}"
                )
