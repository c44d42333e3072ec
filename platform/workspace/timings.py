"""How long training and check runs take on this deployment, as measured.

Every time a participant reads (the agenda, the assignment page, the check
panel) comes from here: the median of the assignment's most recent finished
runs, never a figure written by hand. With nothing measured yet the figure is
None and the page says so.

Cheap by construction: each figure reads at most `SAMPLE` rows, newest first by
primary key, and is cached for `CACHE_SECONDS`, so a page costs the same with
ten runs stored or a million.
"""

from dataclasses import dataclass
from statistics import median

from django.core.cache import cache
from django.db.models import F

from checks.models import CheckRun, CheckStatus
from submissions.models import Run

SAMPLE = 25
CACHE_SECONDS = 60


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


def training_time(*, assignment_id: int) -> Timing | None:
    """Return the median wall time of the assignment's recent trainings here."""
    key = f"dojo:timing:train:{assignment_id}"
    found = cache.get(key, "missing")
    if found != "missing":
        return found
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
    timing = _measured(values)
    cache.set(key, timing, CACHE_SECONDS)
    return timing


def check_time(*, assignment_id: int) -> Timing | None:
    """Return the median time from pressing Check to a passed result, here."""
    key = f"dojo:timing:check:{assignment_id}"
    found = cache.get(key, "missing")
    if found != "missing":
        return found
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
    timing = _measured([span.total_seconds() for span in spans if span is not None])
    cache.set(key, timing, CACHE_SECONDS)
    return timing


def assignment_timings(*, assignment_id: int) -> dict:
    """Return both figures of one assignment, for a template."""
    return {
        "training": training_time(assignment_id=assignment_id),
        "check": check_time(assignment_id=assignment_id),
    }
