"""A job's row lock takes its own row only: the assignment it joins is read,
never locked, so the jobs of one assignment (claims, hand-backs, the
reconciler) and an instructor saving it never queue on that one row.

Row locks are PostgreSQL's, where CI runs the suite; SQLite has none (it
locks the whole database), so there only the lock's own answer is checked.
"""

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, connections, transaction

from checks.reconcile import CHECK_JOBS
from checks.services import check_run_create
from submissions.services.intake import submission_create
from submissions.services.reconcile import SUBMISSION_JOBS
from workshops.models import Assignment

pytestmark = pytest.mark.django_db(transaction=True)


def _lockable_elsewhere(assignment_id: int) -> bool:
    """Return whether another connection can lock the assignment row now."""
    answer: dict[str, bool] = {}

    def other() -> None:
        try:
            with transaction.atomic():
                Assignment.objects.select_for_update(nowait=True).get(pk=assignment_id)
            answer["lockable"] = True
        except DatabaseError:
            answer["lockable"] = False
        finally:
            connections.close_all()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(60)
    return answer["lockable"]


def test_the_reconcilers_lock_of_a_job_leaves_its_assignment_free(
    participant, workshop, outbox
):
    mlp = workshop.assignments.get(slug="mlp")
    submission = submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("train.py", b"print('hi')\n"),
    )
    check = check_run_create(participant=participant, assignment=mlp, source="1\n")
    for kind, pk in ((SUBMISSION_JOBS, submission.pk), (CHECK_JOBS, check.pk)):
        with transaction.atomic():
            row = kind.lock(pk)
            assert row is not None and row.assignment.pk == mlp.pk
            if connection.vendor == "postgresql":
                assert _lockable_elsewhere(mlp.pk), kind.name
