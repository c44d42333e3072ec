"""How long training and check runs take on this deployment, as measured.

Every time a participant reads (the agenda, the assignment page, the check
panel) comes from here: the median of the assignment's most recent finished
runs, never a figure written by hand. The reference's full grading started by
Validate is one of those runs (a reference submission's training), so a new
assignment has a figure before any participant submits. With nothing measured
yet the figure is None and the page says so.

Cheap by construction: each figure reads at most `SAMPLE` rows, newest first by
primary key, and a workshop's figures are cached together for
`CACHE_SECONDS`, so a page costs the same with ten runs stored or a million.
"""

from dataclasses import dataclass
from statistics import median

from django.core.cache import cache
from django.db.models import F

from checks.models import CheckRun, CheckStatus
from submissions.models import Run
from workshops.models import Assignment

SAMPLE = 25
CACHE_SECONDS = 60
# A workshop has a handful of assignments; a miss never reads more than this.
MAX_ASSIGNMENTS = 50


@dataclass(frozen=True)
class Timing:
    """The median of `count` measured durations, in seconds."""

    seconds: float
    count: int

    @property
    def text(self) -> str:
        """Return the duration as a person reads it: "59 s", "2 min", "1 h 5 min"."""
        return duration_text(self.seconds)


def duration_text(seconds: float) -> str:
    """Return "59 s" below 100 seconds, whole minutes above, hours past an hour."""
    seconds = max(float(seconds), 0.0)
    if seconds < 100:
        return f"{max(round(seconds), 1)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def _measured(values: list[float]) -> Timing | None:
    values = [v for v in values if v is not None and v >= 0]
    if not values:
        return None
    return Timing(seconds=float(median(values)), count=len(values))


def _training(assignment_id: int) -> Timing | None:
    values = list(
        Run.objects.filter(
            submission__assignment_id=assignment_id,
            kind=Run.Kind.TRAIN,
            outcome=Run.Outcome.OK,
            duration_seconds__isnull=False,
        )
        .order_by("-pk")
        .values_list("duration_seconds", flat=True)[:SAMPLE]
    )
    return _measured(values)


def _check(assignment_id: int) -> Timing | None:
    spans = (
        CheckRun.objects.filter(
            assignment_id=assignment_id,
            status=CheckStatus.PASSED,
            finished_at__isnull=False,
        )
        .order_by("-pk")
        .annotate(span=F("finished_at") - F("created_at"))
        .values_list("span", flat=True)[:SAMPLE]
    )
    return _measured([span.total_seconds() for span in spans if span is not None])


def workshop_timings(*, workshop_id: int) -> dict[int, dict[str, Timing | None]]:
    """Return {assignment id: {"training": ..., "check": ...}} for the workshop.

    One cache entry per workshop: a page reads it with one cache lookup; a miss
    costs two bounded queries per assignment, whatever is stored.
    """
    key = f"dojo:timings:{workshop_id}"
    found = cache.get(key)
    if found is not None:
        return found
    ids = Assignment.objects.filter(workshop_id=workshop_id).values_list(
        "pk", flat=True
    )[:MAX_ASSIGNMENTS]
    found = {pk: {"training": _training(pk), "check": _check(pk)} for pk in list(ids)}
    cache.set(key, found, CACHE_SECONDS)
    return found


def assignment_timings(*, assignment: Assignment) -> dict[str, Timing | None]:
    """Return the assignment's figures ({"training": ..., "check": ...})."""
    timings = workshop_timings(workshop_id=assignment.workshop_id)
    return timings.get(assignment.pk) or {"training": None, "check": None}
