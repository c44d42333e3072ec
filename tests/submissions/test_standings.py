"""Standings follow every submission change, and match a fresh recomputation."""

import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from accounts.services import user_ensure
from grader import CheckResult, GradeReport
from jobs.outcome import JobOutcome
from jobs.reconcile import jobs_reconcile
from submissions.models import (
    FINAL_STATUSES,
    RegradeBatch,
    Run,
    Standing,
    Status,
    Submission,
)
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create
from submissions.services.jobs import job_apply, job_claim, job_platform_error
from submissions.services.lifecycle import (
    submission_cancel,
    submission_enqueue,
    submission_rerun,
)
from submissions.services.regrade import regrade_batch_create, regrade_claim
from submissions.services.standings import assignment_tallies, standings_check
from workshops.models import Enrollment
from workshops.services import (
    assignment_update_settings,
    enrollment_add,
    enrollment_deactivate,
)

pytestmark = pytest.mark.django_db

CHECK_IDS = ("layers.Conv2D", "layers.Dropout", "params.max")


def _report(rng: random.Random) -> GradeReport:
    roll = rng.random()
    if roll < 0.1:
        return GradeReport(status="error", reason="the grader crashed")
    graded = roll > 0.25
    checks = [
        {"id": cid, "passed": graded and rng.random() < 0.7, "message": f"{cid} unmet"}
        for cid in CHECK_IDS
    ]
    return GradeReport.from_dict(
        {
            "status": "graded" if graded else "failed",
            "reason": "" if graded else "The output layer has 9 units.",
            "score": round(rng.uniform(10, 99), 1) if graded else 0.0,
            "public_accuracy": round(rng.uniform(0, 1), 3) if graded else None,
            "private_accuracy": round(rng.uniform(0, 1), 3) if graded else None,
            "checks": checks,
            "spec_version": "1",
        }
    )


class Workshop:
    """Drive a workshop with the real services, one random operation at a time."""

    def __init__(self, workshop, rng: random.Random) -> None:
        self.workshop = workshop
        self.rng = rng
        self.assignments = list(workshop.assignments.filter(slug__in=["mlp", "cnn"]))
        self.people = []
        for i in range(4):
            user = user_ensure(username=f"p{i}", password="pass-12345")
            enrollment_add(workshop=workshop, user=user)
            self.people.append(user)
        # An instructor's own attempts are refused at intake
        # (tests/platform/test_instructor_preview.py): they never have a standing.
        teacher = user_ensure(username="teach", password="pass-12345")
        enrollment_add(workshop=workshop, user=teacher, role="instructor")

    def _pick(self, *statuses) -> Submission | None:
        found = list(
            Submission.objects.filter(
                assignment__workshop=self.workshop, status__in=statuses
            ).order_by("pk")
        )
        return self.rng.choice(found) if found else None

    def submit(self) -> None:
        person = self.rng.choice(self.people)
        assignment = self.rng.choice(self.assignments)
        enrolled = Enrollment.objects.filter(
            user=person, workshop=self.workshop, active=True
        ).exists()
        if not enrolled:
            return
        submission = submission_create(
            participant=person,
            assignment=assignment,
            upload=SimpleUploadedFile("train.py", b"print('training')\n"),
        )
        if self.rng.random() < 0.8:
            submission_enqueue(submission_id=submission.pk)

    def start_training(self) -> None:
        if s := self._pick(Status.QUEUED):
            job_claim(
                submission_id=s.pk,
                job_token=str(s.job_token),
                kind=Run.Kind.TRAIN,
                expect=Status.QUEUED,
                worker="w@host",
                queue="train-cpu",
            )

    def _current_run(self, status: str) -> Run | None:
        s = self._pick(status)
        if s is None:
            return None
        return Run.objects.filter(submission=s, job_token=s.job_token).first()

    def finish_training(self) -> None:
        run = self._current_run(Status.TRAINING)
        if run is None:
            return
        outcome = self.rng.random()
        if outcome < 0.1:
            job_platform_error(run=run, exc=RuntimeError("disk full"))
            return
        if outcome < 0.25:
            job_apply(
                run=run, outcome=JobOutcome.failed(reason="Your code stopped: boom.")
            )
            return
        run.artifact_path = f"/nowhere/{run.pk}/model.keras"
        run.save(update_fields=["artifact_path"])
        job_apply(run=run, outcome=JobOutcome.trained())

    def grade(self) -> None:
        s = self._pick(Status.EVALUATING)
        if s is None:
            return
        run = job_claim(
            submission_id=s.pk,
            job_token=str(s.job_token),
            kind=Run.Kind.EVALUATE,
            expect=Status.EVALUATING,
            worker="w@host",
            queue="evaluate",
        )
        if run is None:
            return
        report = _report(self.rng)
        job_apply(run=run, outcome=JobOutcome.graded(report=report))

    def regrade(self) -> None:
        # Not cancelled ones: a re-evaluation leaves those alone
        # (tests/submissions/test_regrade_each.py).
        s = self._pick(Status.GRADED, Status.FAILED, Status.ERROR)
        has_model = Run.objects.filter(submission=s).exclude(artifact_path="")
        if s is None or not has_model.exists():
            return
        batch = regrade_batch_create(
            assignment=s.assignment,
            mode=RegradeBatch.Mode.REEVALUATE,
            selection="selected",
            submission_ids=[s.pk],
        )
        claimed = regrade_claim(batch=batch, submission_id=s.pk, worker="w@host")
        if claimed is None:
            return
        _, run, _ = claimed
        report = _report(self.rng)
        job_apply(run=run, outcome=JobOutcome.graded(report=report))

    def rerun(self) -> None:
        if s := self._pick(*FINAL_STATUSES):
            submission_rerun(submission=s)

    def cancel(self) -> None:
        if s := self._pick(Status.RECEIVED, Status.QUEUED, Status.EVALUATING):
            submission_cancel(submission=s)

    def reconcile(self) -> None:
        from django.test import override_settings

        with override_settings(
            DOJO_HEARTBEAT_GRACE_SECONDS=-1, DOJO_REQUEUE_AFTER_SECONDS=-1
        ):
            jobs_reconcile()

    def deactivate(self) -> None:
        person = self.rng.choice(self.people[:3])
        enrollment = Enrollment.objects.get(user=person, workshop=self.workshop)
        if enrollment.active:
            enrollment_deactivate(enrollment=enrollment)
        else:
            enrollment_add(workshop=self.workshop, user=person)

    def mark_final(self) -> None:
        from django.core.exceptions import PermissionDenied, ValidationError

        from submissions.services.finals import submission_mark_final

        if s := self._pick(Status.GRADED, Status.FAILED):
            try:
                submission_mark_final(
                    participant=s.participant,
                    submission_id=s.pk,
                    final=s.final_at is None,
                )
            except (ValidationError, PermissionDenied):
                pass  # over the limit, not graded, removed: refused, no change

    def change_final_limit(self) -> None:
        assignment = self.rng.choice(self.assignments)
        assignment.refresh_from_db()
        assignment_update_settings(
            assignment=assignment,
            deadline=None,
            daily_limit=assignment.daily_limit,
            score_policy=assignment.score_policy,
            reveal_private=assignment.reveal_private,
            released=True,
            closed=False,
            final_limit=self.rng.choice([1, 2, 3]),
        )

    def change_policy(self) -> None:
        assignment = self.rng.choice(self.assignments)
        assignment.refresh_from_db()
        assignment_update_settings(
            assignment=assignment,
            deadline=None,
            daily_limit=assignment.daily_limit,
            score_policy="last" if assignment.score_policy == "best" else "best",
            reveal_private=assignment.reveal_private,
            released=True,
            closed=False,
        )


OPERATIONS = {
    "submit": 6,
    "start_training": 8,
    "finish_training": 8,
    "grade": 8,
    "regrade": 2,
    "rerun": 2,
    "cancel": 2,
    "reconcile": 1,
    "deactivate": 1,
    "change_policy": 1,
    "mark_final": 3,
    "change_final_limit": 1,
}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_standings_match_a_recomputation_after_random_operations(workshop, seed):
    """After any sequence of submit, grade, regrade, rerun, cancel, error,
    reconcile, deactivation, policy changes, final marks and limit changes,
    the stored standings and
    tallies equal a recomputation from scratch, at every step."""
    rng = random.Random(seed)
    driver = Workshop(workshop, rng)
    names, weights = list(OPERATIONS), list(OPERATIONS.values())
    done = []
    for _ in range(120):
        name = rng.choices(names, weights)[0]
        getattr(driver, name)()
        done.append(name)
        differences = list(standings_check(assignments=driver.assignments))
        assert differences == [], (done, differences)
    assert Standing.objects.filter(listed=True, counted_grade__isnull=False).exists()
    assert not Standing.objects.filter(participant__username="teach").exists()
    call_command("standings_check")


def test_check_command_reports_a_stale_standing_and_rebuild_repairs_it(
    workshop, participant, capsys
):
    """A standing changed behind the services' back is reported; --rebuild fixes it."""
    cnn = workshop.assignments.get(slug="cnn")
    submission = submission_create(
        participant=participant,
        assignment=cnn,
        upload=SimpleUploadedFile("train.py", b"print(1)\n"),
    )
    Standing.objects.filter(participant=participant).update(attempts=7)
    Submission.objects.filter(pk=submission.pk).update(status=Status.CANCELLED)
    with pytest.raises(CommandError, match="differences from a recomputation"):
        call_command("standings_check")
    out = capsys.readouterr().out
    assert "attempts is 7, expected 0" in out and "tally status:" in out
    call_command("standings_check", "--rebuild")
    call_command("standings_check")
    assert Standing.objects.get(participant=participant).cancelled == 1


def test_standing_counts_best_or_last_and_explains_a_failure(workshop, participant):
    """The counted grade follows the policy; a failure keeps its reason."""
    cnn = workshop.assignments.get(slug="cnn")

    def graded(score: float, passed: bool) -> Submission:
        submission = submission_create(
            participant=participant,
            assignment=cnn,
            upload=SimpleUploadedFile("train.py", b"print(1)\n"),
        )
        submission_enqueue(submission_id=submission.pk)
        submission.refresh_from_db()
        with transaction.atomic():
            submission.move_to(Status.EVALUATING)
            submission.save()
            check = CheckResult(id="layers.Dropout", passed=passed, message="Add one")
            report = GradeReport(
                status="graded",
                score=score,
                public_accuracy=score / 100,
                checks=(check,),
            )
            grade_record(submission=submission, run=None, report=report)
        return submission

    best = graded(90.0, True)
    graded(40.0, False)
    standing = Standing.objects.get(participant=participant, assignment=cnn)
    assert (standing.counted_score, standing.counted_submission_id) == (90.0, best.pk)
    assert (standing.attempts, standing.best_score, standing.progress) == (
        2,
        90.0,
        "passed",
    )
    assert standing.latest_reason == "Add one"
    tallies, _ = assignment_tallies(assignment_id=cnn.pk)
    assert tallies["status:graded"] == 2 and tallies["bin:9"] == 1
    assert tallies["check:layers.Dropout"] == tallies["pass:layers.Dropout"] == 1
    assignment_update_settings(
        assignment=cnn,
        deadline=None,
        daily_limit=cnn.daily_limit,
        score_policy="last",
        reveal_private=False,
        released=True,
        closed=False,
    )
    standing = Standing.objects.get(participant=participant, assignment=cnn)
    assert standing.counted_score == 40.0
    assert assignment_tallies(assignment_id=cnn.pk)[0]["bin:4"] == 1
    enrollment_deactivate(
        enrollment=Enrollment.objects.get(user=participant, workshop=workshop)
    )
    standing.refresh_from_db()
    assert not standing.listed
    assert not +assignment_tallies(assignment_id=cnn.pk)[0]
    assert Standing.objects.count() == 1
