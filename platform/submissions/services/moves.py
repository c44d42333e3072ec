"""Move a submission to a new status: the one writer of `Submission.status`.

Every status change goes through `submission_move` (or `job_queue`, which uses
it), so this is where the standing is refreshed, by explicit call.
"""

from submissions.models import ACTIVE_STATUSES, Submission
from submissions.services.standings import standing_refresh, standing_status_note

PLATFORM_FAULT = (
    "The platform could not run your submission ({detail}). This is not your "
    "fault and does not count against your limit; it will be looked at."
)
WORKER_LOST = (
    "The worker running your submission stopped before it finished. This is the "
    "platform's fault, not yours: submit again, it does not count against your limit."
)


def submission_move(*, submission: Submission, status: str, reason: str = "") -> None:
    """Move a locked submission to a new status, save it, refresh its standing.

    The caller holds the submission's row lock; the standing's is taken next
    (the one lock order: Enrollment -> Submission -> Standing). A move between
    two active statuses (queued, started, evaluated) only notes the new status
    on the standing; any other move refreshes it whole.
    """
    was = submission.status
    submission.move_to(status, reason=reason)
    submission.save()
    pair = {
        "participant_id": submission.participant_id,
        "assignment_id": submission.assignment_id,
    }
    if (
        was in ACTIVE_STATUSES
        and status in ACTIVE_STATUSES
        and standing_status_note(
            **pair,
            submission_id=submission.pk,
            status=status,
            reason=submission.status_reason,
        )
    ):
        return
    standing_refresh(**pair)
