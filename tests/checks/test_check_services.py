"""Starting a check: refusals a person can act on, one active check, a rate,
never counted against the daily limit (the reconciler's part: test_reconcile.py)."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from checks.models import CheckRun, CheckStatus
from checks.selectors import check_run_latest
from checks.services import check_run_create
from submissions.services.intake import submission_create, submissions_used_today

pytestmark = pytest.mark.django_db

GOOD = "import keras\nprint('training')\n"


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("x" * (1024 * 1024 + 1), "larger than the 1024 KB limit"),
        ("é" * (600 * 1024), "larger than the 1024 KB limit"),
        ("print(1)\x00\n", r"U\+0000 on line 1"),
        ("print(1)\x01\x02\x1b\n", r"U\+0001 on line 1"),
        ("print('\ud800')\n", r"U\+D800 on line 1"),
        ("  \n\n", "editor is empty"),
        (b"print(1)", "as text"),
        (None, "as text"),
    ],
)
def test_bad_source_is_refused_and_nothing_is_stored(
    participant, mlp, outbox, source, match
):
    """Oversize, binary, NUL or empty sources are refused with a reason."""
    with pytest.raises(ValidationError, match=match):
        check_run_create(participant=participant, assignment=mlp, source=source)
    assert CheckRun.objects.count() == 0
    assert outbox == []


def test_assignment_the_participant_cannot_see_is_refused(
    participant, workshop, mlp, outbox, django_user_model
):
    """Someone outside the workshop, or a participant on an unreleased assignment,
    gets a 404-style refusal; an instructor may check an unreleased one."""
    stranger = django_user_model.objects.create_user("stranger", password="x-pass-1")
    with pytest.raises(ValidationError, match="No such assignment") as exc:
        check_run_create(participant=stranger, assignment=mlp, source=GOOD)
    assert exc.value.code == "not_found"
    mlp.released = False
    mlp.save()
    with pytest.raises(ValidationError, match="No such assignment"):
        check_run_create(participant=participant, assignment=mlp, source=GOOD)
    assert CheckRun.objects.count() == 0


def test_instructor_may_check_an_unreleased_assignment(instructor, mlp, outbox):
    mlp.released = False
    mlp.save()
    check = check_run_create(participant=instructor, assignment=mlp, source=GOOD)
    assert check.status == CheckStatus.QUEUED


def test_check_is_sent_on_the_check_queue_after_commit(
    participant, mlp, outbox, django_capture_on_commit_callbacks
):
    """The task leaves by name on its own queue, only once the row is committed."""
    with django_capture_on_commit_callbacks(execute=True):
        check = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    assert outbox == [
        {
            "task": "checks.tasks.check_run",
            "args": [check.pk, str(check.job_token)],
            "queue": "check",
            "soft_time_limit": pytest.approx(300, abs=1000),
            "time_limit": pytest.approx(300, abs=1000),
        }
    ]
    assert check.source == GOOD and len(check.source_sha256) == 64


def test_a_new_check_replaces_the_active_one(participant, workshop, mlp, outbox):
    """Only one active check per participant: the new one cancels the others,
    on any assignment."""
    cnn = workshop.assignments.get(slug="cnn")
    first = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    CheckRun.objects.filter(pk=first.pk).update(status=CheckStatus.RUNNING)
    second = check_run_create(participant=participant, assignment=cnn, source=GOOD)
    first.refresh_from_db()
    assert first.status == CheckStatus.CANCELLED
    assert first.reason == "Replaced by a newer check run."
    assert first.finished_at is not None
    assert second.status == CheckStatus.QUEUED
    active = CheckRun.objects.filter(
        participant=participant, status__in=["queued", "running"]
    )
    assert list(active) == [second]
    assert check_run_latest(participant=participant, assignment=mlp) == first
    assert check_run_latest(participant=participant, assignment=cnn) == second


def test_another_participants_check_is_left_alone(
    participant, other_participant, mlp, outbox
):
    mine = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    check_run_create(participant=other_participant, assignment=mlp, source=GOOD)
    mine.refresh_from_db()
    assert mine.status == CheckStatus.QUEUED


def test_rate_per_minute_is_refused_with_how_long_to_wait(
    participant, mlp, outbox, settings
):
    """Past DOJO_CHECK_PER_MINUTE checks in a minute, the next is refused; a
    minute later it is allowed again."""
    settings.DOJO_CHECK_PER_MINUTE = 3
    for _ in range(3):
        check_run_create(participant=participant, assignment=mlp, source=GOOD)
    with pytest.raises(
        ValidationError, match=r"3 checks in the last minute.*Wait"
    ) as e:
        check_run_create(participant=participant, assignment=mlp, source=GOOD)
    assert e.value.code == "rate"
    assert CheckRun.objects.count() == 3
    CheckRun.objects.update(created_at=timezone.now() - datetime.timedelta(seconds=61))
    check_run_create(participant=participant, assignment=mlp, source=GOOD)


def test_checks_are_not_counted_against_the_daily_limit(participant, mlp, outbox):
    """Checks never count, and a participant with no submissions left may check."""
    mlp.daily_limit = 1
    mlp.save()
    for _ in range(3):
        check_run_create(participant=participant, assignment=mlp, source=GOOD)
    assert submissions_used_today(participant=participant, assignment=mlp) == 0
    submission_create(
        participant=participant,
        assignment=mlp,
        upload=SimpleUploadedFile("train.py", GOOD.encode()),
    )
    assert submissions_used_today(participant=participant, assignment=mlp) == 1
    with pytest.raises(ValidationError, match="used all 1 submissions"):
        submission_create(
            participant=participant,
            assignment=mlp,
            upload=SimpleUploadedFile("train.py", GOOD.encode()),
        )
    check = check_run_create(participant=participant, assignment=mlp, source=GOOD)
    assert check.status == CheckStatus.QUEUED
