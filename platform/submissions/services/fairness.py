"""Fair share of the workers: one participant's queued jobs never delay another's
first job.

The rule: a participant has at most one training job in flight, its message
waiting in the broker or its sandbox running. Their later submissions are held
in the database: status `queued`, no message sent (`enqueued_at` empty). When
the training in flight ends, the participant's next held submission is sent, to
the back of the queue, behind everyone else's waiting first jobs. A participant
may keep at most `DOJO_QUEUED_PER_PARTICIPANT` submissions waiting.

The reconciler's invariant still holds: a held submission has a message due,
sent when its participant's earlier job ends (the reconciler sends it if that
moment was missed). This module only answers questions; `jobs.job_queue` asks
`fair_is_held` before sending, and `jobs.job_apply` sends `fair_next` after a
training ends.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q

from submissions.models import Status, Submission

# Statuses of a training job in flight (its message waits, or it runs).
IN_FLIGHT = (Status.QUEUED, Status.TRAINING)


def _earlier(submission: Submission) -> Q:
    return Q(created_at__lt=submission.created_at) | Q(
        created_at=submission.created_at, pk__lt=submission.pk
    )


def fair_is_held(*, submission: Submission) -> bool:
    """Return whether the participant has an earlier training job in flight."""
    return (
        Submission.objects.filter(
            participant_id=submission.participant_id, status__in=IN_FLIGHT
        )
        .exclude(pk=submission.pk)
        .filter(_earlier(submission))
        .exists()
    )


def fair_next(*, participant_id: int) -> Submission | None:
    """Return the participant's held submission whose turn it is now, if any."""
    head = (
        Submission.objects.filter(participant_id=participant_id, status__in=IN_FLIGHT)
        .order_by("created_at", "pk")
        .first()
    )
    if head is None or head.status != Status.QUEUED or head.enqueued_at is not None:
        return None
    return head


def fair_refuse_if_full(*, participant_id: int) -> None:
    """Refuse a new submission while the participant has too many waiting."""
    cap = settings.DOJO_QUEUED_PER_PARTICIPANT
    waiting = Submission.objects.filter(
        participant_id=participant_id, status__in=(Status.RECEIVED, Status.QUEUED)
    ).count()
    if waiting >= cap:
        raise ValidationError(
            f"You have {waiting} submissions waiting to train; the room shares "
            f"the workers, so at most {cap} may wait. Submit again when one has "
            "started, or cancel one you no longer need."
        )
