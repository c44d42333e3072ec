"""Grader reports become grade history; a grader fault is the platform's error."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from grader import GradeReport
from submissions.models import Grade, Status, Submission
from submissions.services.grading import grade_record
from submissions.services.intake import submission_create

pytestmark = pytest.mark.django_db


def _evaluating(participant, workshop) -> Submission:
    submission = submission_create(
        participant=participant,
        assignment=workshop.assignments.get(slug="mlp"),
        upload=SimpleUploadedFile("t.py", b"print(1)\n"),
    )
    Submission.objects.filter(pk=submission.pk).update(status=Status.EVALUATING)
    submission.refresh_from_db()
    return submission


def _report(**values) -> GradeReport:
    return GradeReport.from_dict(
        {
            "status": "graded",
            "score": 80.0,
            "public_accuracy": 0.9,
            "private_accuracy": 0.88,
            "grader_version": "1",
            "spec_version": 1,
            "checks": [{"id": "layers", "passed": True, "message": "ok"}],
            **values,
        }
    )


def test_each_grading_adds_a_grade_and_the_newest_is_current(participant, workshop):
    submission = _evaluating(participant, workshop)
    first = grade_record(submission=submission, run=None, report=_report())
    submission.move_to(Status.EVALUATING)
    second = grade_record(submission=submission, run=None, report=_report(score=90))
    submission.refresh_from_db()
    assert submission.status == Status.GRADED
    assert submission.current_grade == second
    assert list(Grade.objects.filter(submission=submission)) == [second, first]
    assert Grade.objects.get(pk=first.pk).score == 80


def test_refused_model_is_failed_with_the_graders_reason(participant, workshop):
    submission = _evaluating(participant, workshop)
    reason = "Your model uses a Lambda layer; Dojo cannot load it safely."
    grade = grade_record(
        submission=submission,
        run=None,
        report=_report(status="failed", reason=reason, score=0),
    )
    assert submission.status == Status.FAILED
    assert submission.status_reason == reason
    assert grade.score == 0


def test_grader_fault_is_a_platform_error_without_a_grade(participant, workshop):
    submission = _evaluating(participant, workshop)
    assert (
        grade_record(
            submission=submission,
            run=None,
            report=GradeReport(status="error", reason="disk full"),
        )
        is None
    )
    assert submission.status == Status.ERROR
    assert "not your fault" in submission.status_reason
    assert not Grade.objects.exists()
