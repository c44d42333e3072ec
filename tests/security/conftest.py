"""Fixtures of the security tests: two workshops and people on both sides."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.api_builders import graded, use_fresh_cache
from tests.security.walk_marks import (
    PRIVATE_ACCURACY,
    SECRET_CODE,
    SECRET_FILE_NAME,
    SECRET_LOG,
)

PACK = Path(__file__).resolve().parents[2] / "assignments" / "dl101"


@pytest.fixture(autouse=True)
def _fresh_cache(settings) -> None:
    use_fresh_cache(settings)


@dataclass
class World:
    """Workshop 1 (A, a classmate, its instructor) and workshop 2 (outsiders)."""

    workshop: object
    other_workshop: object
    owner: object
    classmate: object
    instructor: object
    outsider: object
    foreign_instructor: object
    superuser: object
    submission: object
    grade: object
    run: object
    batch: object
    help_request: object
    check_run: object = None


@pytest.fixture
def world(workshop, participant, other_participant, instructor, django_user_model):
    """Build both workshops, A's graded submission, its run and a regrade batch."""
    from accounts.services import user_ensure
    from submissions.services.regrade import regrade_batch_create
    from workshops.services import enrollment_add, workshop_load_pack

    other = workshop_load_pack(path=PACK, slug="dl102")
    outsider = user_ensure(username="olga", password="olga-pass-123")
    enrollment_add(workshop=other, user=outsider, role="participant")
    foreign = user_ensure(username="ivan", password="ivan-pass-123")
    enrollment_add(workshop=other, user=foreign, role="instructor")
    superuser = django_user_model.objects.create_superuser(
        "root", password="root-pass-123"
    )
    mlp = workshop.assignments.get(slug="mlp")
    submission, grade = graded(
        participant,
        mlp,
        log=f"Epoch 1/1 {SECRET_LOG}\n",
        private=PRIVATE_ACCURACY,
        name=SECRET_FILE_NAME,
        content=f"print('{SECRET_CODE}')\n".encode(),
    )
    batch = regrade_batch_create(
        assignment=mlp, mode="reevaluate", created_by=instructor
    )
    # A's draft holds the secret too, in the text and in its versions.
    from workspace.help_requests import help_request_create
    from workspace.services import draft_save

    draft_save(
        participant=participant,
        assignment=mlp,
        text=f"print('{SECRET_CODE}')\n",
        base_revision=0,
        reason="check",
    )
    help_request = help_request_create(
        participant=participant, assignment=mlp, note=SECRET_LOG
    )
    check_run = _secret_check_run(participant, mlp)
    return World(
        workshop=workshop,
        other_workshop=other,
        owner=participant,
        classmate=other_participant,
        instructor=instructor,
        outsider=outsider,
        foreign_instructor=foreign,
        superuser=superuser,
        submission=submission,
        grade=grade,
        run=submission.runs.first(),
        batch=batch,
        help_request=help_request,
        check_run=check_run,
    )


def _secret_check_run(participant, assignment):
    """A's check run, with A's code and a log only A and A's instructors see."""
    from checks.models import CheckRun
    from checks.services import check_run_create

    check = check_run_create(
        participant=participant,
        assignment=assignment,
        source=f"print('{SECRET_CODE}')\n",
    )
    CheckRun.objects.filter(pk=check.pk).update(log=f"{SECRET_LOG}\n")
    return check
