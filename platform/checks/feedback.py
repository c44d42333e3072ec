"""Turn a check's sandbox result and grader report into what the editor shows."""

from grader import GradeReport
from submissions.feedback import code_error_reason
from workers import sandbox

PLATFORM_FAULT = (
    "The platform could not run your check ({detail}). This is not your fault: "
    "press Check again; if it happens again, tell your instructor."
)
WORKER_LOST = (
    "The worker running your check stopped before it finished. This is the "
    "platform's fault, not yours: press Check again."
)
INDICATIVE = (
    "Indicative only: measured after a short training on {train}, "
    "on {public} public test {noun}. Your graded score comes from a full training "
    "on every training example and the hidden test split."
)


def examples_noun(spec: dict) -> str:
    """Say what an assignment's examples are, as its participants read it."""
    checks = spec.get("checks") if isinstance(spec, dict) else None
    tokens = isinstance(checks, dict) and checks.get("input_kind") == "tokens"
    return "texts" if tokens else "images"


def training_failure(result: sandbox.SandboxResult) -> str:
    """Say, as submission feedback does, why the training stopped."""
    if result.outcome == sandbox.Outcome.EXIT_NONZERO:
        return code_error_reason(
            log=result.log, exit_code=result.exit_code, retry="check"
        )
    if result.outcome == sandbox.Outcome.TIMED_OUT:
        return (
            f"{result.reason} A check is a short training that should take "
            "seconds: use fewer epochs or a smaller model while checking."
        )
    return result.reason or f"Your code stopped ({result.outcome})."


def failure_reason(report: GradeReport) -> str:
    """Return what to fix first: the grader's reason, or the failed checks."""
    if report.reason:
        return report.reason
    failed = [c.message for c in report.checks if not c.passed]
    return " ".join(failed) or "Your model did not pass the checks."


def check_result(
    report: GradeReport,
    *,
    training_slice: str,
    train_count: int,
    public_count: int,
    spec: dict,
) -> dict:
    """Return the result JSON: checks, the indicative accuracy, and feedback."""
    checks = [
        {"id": c.id, "passed": bool(c.passed), "message": c.message}
        for c in report.checks
    ]
    accuracy = report.public_accuracy if report.status == "graded" else None
    notes = [c["message"] for c in checks if not c["passed"]]
    if report.reason and report.reason not in notes:
        notes.insert(0, report.reason)
    if not notes:
        notes.append(
            "Your model has the right input, outputs and layers for "
            f"{spec.get('title') or 'this assignment'}. Submit it for a grade when "
            "you are happy with it."
        )
    if accuracy is not None:
        notes.append(
            INDICATIVE.format(
                train=training_slice, public=public_count, noun=examples_noun(spec)
            )
        )
    return {
        "checks": checks,
        "indicative_accuracy": accuracy,
        "indicative": True,
        "train_images": train_count,
        "training_slice": training_slice,
        "public_sample_images": public_count,
        "params_total": report.params_total,
        "feedback": notes,
    }
