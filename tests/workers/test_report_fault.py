"""A report the grader could not keep readable, once it started on a model,
is charged to that model: failed and counted, never a refunded error."""

from __future__ import annotations

from pathlib import Path

from grader import REPORT_FILE_MAX_BYTES
from workers import sandbox
from workers.evaluation import evaluation_outcome
from workers.evaluation_each import progress_report_read


def _ended(outcome: sandbox.Outcome = sandbox.Outcome.OK) -> sandbox.SandboxResult:
    return sandbox.SandboxResult(
        outcome=outcome,
        exit_code=0,
        wall_seconds=1.0,
        cpu_seconds=1.0,
        peak_memory_bytes=None,
        log="",
        log_truncated=False,
        backend="bwrap",
    )


def test_an_unreadable_report_after_the_model_was_touched_is_the_participants() -> None:
    """reports.json past its cap, written after the grader touched model 7,
    fails model 7 with a reason saying what to change."""
    outcome = evaluation_outcome(
        _ended(),
        reports={},
        unreadable="the grader's reports.json is larger than 16777216 bytes",
        touched="7",
    )
    assert outcome.participant_fault
    assert "larger than 16777216 bytes" in outcome.reason
    assert "fewer layers with short names" in outcome.reason


def test_an_unreadable_report_before_any_model_is_the_platforms() -> None:
    """Before the grader touched a model, nothing it wrote is a participant's."""
    outcome = evaluation_outcome(
        _ended(), reports={}, unreadable="reports.json is bad", touched=None
    )
    assert not outcome.participant_fault


def test_an_oversize_progress_report_fails_the_model_it_belongs_to(
    tmp_path: Path,
) -> None:
    """A chunk's per-model report past its cap fails that model, counted."""
    path = tmp_path / "000003.json"
    path.write_text('{"id": "7", "layers": ["' + "x" * REPORT_FILE_MAX_BYTES + '"]}')
    verdict = progress_report_read(path, "7")
    assert verdict.id == "7"
    assert verdict.report is None
    assert verdict.participant_fault
    assert "fewer layers with short names" in verdict.reason


def test_a_readable_progress_report_passes_with_its_own_id(tmp_path: Path) -> None:
    """A well-formed report is passed on under the id it names."""
    path = tmp_path / "000000.json"
    path.write_text('{"id": "9", "status": "graded"}')
    verdict = progress_report_read(path, "9")
    assert (verdict.id, verdict.participant_fault) == ("9", False)
    assert verdict.report == {"id": "9", "status": "graded"}
