"""One participant's queued jobs never delay other participants' first jobs.

A real worker and broker: one participant queues 12 trainings, then ten others
queue one each. The hoarder's later jobs wait in the database and go to the
queue one at a time, when the previous one's training ends: every one of the
ten starts before the hoarder's second.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.services import user_ensure
from submissions.models import ACTIVE_STATUSES, Run, Submission
from submissions.services.intake import submission_create
from submissions.services.lifecycle import submission_cancel
from tests.helpers import wait_for
from workshops.services import enrollment_add

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CODE = b"print('quick')\n"


def _submit(user, assignment) -> Submission:
    return submission_create(
        participant=user,
        assignment=assignment,
        upload=SimpleUploadedFile("train.py", CODE),
    )


def _started(submission: Submission):
    run = Run.objects.filter(submission=submission, kind=Run.Kind.TRAIN).first()
    return run and run.started_at


def test_ten_first_jobs_start_before_the_hoarders_second(
    start_worker, _shared_worker, participant, workshop, settings
) -> None:
    """All 22 are queued before a worker takes any (as when the room submits
    while the workers are busy); then one real worker serves them."""
    shared = _shared_worker.pop("worker", None)
    if shared is not None:
        shared.stop()  # it would start the hoarder's first while we upload
    settings.DOJO_QUEUED_PER_PARTICIPANT = 12
    assignment = workshop.assignments.get(slug="mlp")
    assignment.daily_limit = 20
    assignment.save()
    hoard = [_submit(participant, assignment) for _ in range(12)]
    others = []
    for n in range(10):
        user = user_ensure(username=f"room{n}", password=f"room{n}-pass-123")
        enrollment_add(workshop=workshop, user=user, role="participant")
        others.append(_submit(user, assignment))
    worker = start_worker(queues="train-cpu,evaluate")
    try:
        second = wait_for(
            lambda: _started(hoard[1]), timeout=600, what="the hoarder's second job"
        )
        firsts = [_started(s) for s in others]
        assert all(firsts), "each of the ten started"
        assert max(firsts) <= second, (firsts, second)
    finally:
        for submission in Submission.objects.filter(status__in=ACTIVE_STATUSES):
            submission_cancel(submission=submission)
        worker.stop()


def test_a_participant_may_keep_only_a_few_submissions_waiting(
    participant, workshop, settings, outbox
) -> None:
    """Past the cap, a new upload is refused with what to do."""
    from django.core.exceptions import ValidationError

    settings.DOJO_QUEUED_PER_PARTICIPANT = 3
    assignment = workshop.assignments.get(slug="mlp")
    assignment.daily_limit = 20
    assignment.save()
    Submission.objects.all().delete()

    for _ in range(3):
        _submit(participant, assignment)
    with pytest.raises(ValidationError, match="at most 3 may wait"):
        _submit(participant, assignment)
