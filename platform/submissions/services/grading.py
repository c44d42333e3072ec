"""Turn the grader's reports into grade history."""

from collections.abc import Mapping
from pathlib import Path

from grader import GradeReport
from submissions.models import Grade, Run, Status, Submission
from submissions.services.moves import PLATFORM_FAULT, submission_move
from web.images import clean_misclassified
from workers import outputs
from workers.sandbox import neutralise_json
from workshops import folders

STATUS_GRADED = "graded"
STATUS_ERROR = "error"


def grade_record(
    *,
    submission: Submission,
    run: Run | None,
    report: GradeReport,
    history: dict | None = None,
    history_note: str = "",
) -> Grade | None:
    """Apply a grader report: a new Grade (earlier ones kept), or a platform error.

    `history` is the training curve the participant's code saved, stored beside
    the report for the charts; `history_note` says why it was left out.
    """
    if report.status == STATUS_ERROR:
        # The grader failed on this item, not the participant's model: no grade.
        detail = report.reason or "the grader failed on this model"
        submission_move(
            submission=submission,
            status=Status.ERROR,
            reason=PLATFORM_FAULT.format(detail=detail),
        )
        return None
    stored = report.to_dict()
    # The images come out of a sandbox: keep only well-formed ones (images.py).
    stored["misclassified"] = clean_misclassified(
        report.misclassified,
        input_shape=submission.assignment.spec.get("checks", {}).get("input_shape"),
        num_classes=len(report.confusion_matrix),
    )
    if history is not None:
        stored["history"] = history
    if history_note:
        stored["history_note"] = history_note
    # Layer names and messages come from the participant's model: no control
    # characters on the page, and no NUL, which PostgreSQL's jsonb refuses.
    stored = neutralise_json(stored)
    grade = Grade.objects.create(
        submission=submission,
        run=run,
        grader_version=str(report.grader_version),
        spec_version=report.spec_version or submission.assignment.spec_version,
        passed_checks=report.status == STATUS_GRADED and report.passed_checks,
        public_accuracy=report.public_accuracy,
        private_accuracy=report.private_accuracy,
        score=report.score or 0.0,
        checks=stored["checks"],
        report=stored,
    )
    submission.current_grade = grade
    if report.status == STATUS_GRADED:
        submission_move(submission=submission, status=Status.GRADED)
    else:
        submission_move(
            submission=submission,
            status=Status.FAILED,
            reason=report.reason or "Your model could not be graded.",
        )
    return grade


def evaluation_inputs(*, submission: Submission, model_run: Run) -> dict:
    """Return what the grader needs for one model, as host paths."""
    assignment = submission.assignment
    train_dir = folders.assignment_train_dir(assignment.pk)
    base = train_dir / "base.keras"
    history = Path(model_run.artifact_path).with_name("history.json")
    return {
        "model": model_run.artifact_path,
        "spec": {**assignment.spec, "version": assignment.spec_version},
        "data": str(folders.assignment_hidden_dir(assignment.pk) / "test.npz"),
        "base": str(base) if base.is_file() else None,
        "history": str(history) if history.is_file() else None,
    }


def history_load(*, path: str | None) -> tuple[dict | None, str]:
    """Return the training history a run saved, or None and a note saying why not.

    A bad history never costs the grade: the curve is left out, with the note.
    """
    if not path:
        return None, ""
    try:
        return outputs.history_read(Path(path)), ""
    except outputs.UntrustedOutputError as exc:
        return None, (
            f"The training curves are not shown: your {exc}. Save "
            "history.history as a JSON object of finite numbers."
        )


def report_from_sandbox(data: Mapping) -> GradeReport:
    """Rebuild and clean a report the evaluation sandbox wrote."""
    return outputs.report_parse(data)
