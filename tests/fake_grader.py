"""A grader sandbox that ends as a test says, for the evaluation paths.

The evaluation paths run the grader through `workers.sandbox.run`; this stands
in for that one call (what runs in the sandbox is not the point): it writes a
graded report for every model it was given, where the real grader writes its
reports (`--out`, and each one in `--progress`), and returns the hand-built
ending. A path that reads the ending back through the job's spec must refuse
a hostile ending before it takes any of those reports.
"""

import json
from pathlib import Path

from grader import GradeReport
from workers import sandbox


def ended(**changes: object) -> sandbox.SandboxResult:
    """Return a sandbox ending: a clean exit unless `changes` say otherwise."""
    fields = {
        "outcome": sandbox.Outcome.OK,
        "exit_code": 0,
        "wall_seconds": 1.0,
        "cpu_seconds": 1.0,
        "peak_memory_bytes": None,
        "log": "graded\n",
        "log_truncated": False,
        "backend": "bwrap",
    }
    return sandbox.SandboxResult(**{**fields, **changes})


def grader_that_ends(monkeypatch, ending: sandbox.SandboxResult) -> list[list[str]]:
    """Have every grader sandbox report all its models graded and end `ending`.

    Return the ids each sandbox was given, one list per sandbox started.
    """
    started: list[list[str]] = []

    def run(argv: list[str], **kwargs: object) -> sandbox.SandboxResult:
        job_dir = next(b.source for b in kwargs["binds"] if b.target == "/job")
        ids = [
            job["id"] for job in json.loads((Path(job_dir) / "jobs.json").read_text())
        ]
        started.append(ids)
        out, progress = (
            Path(argv[argv.index(flag) + 1]) for flag in ("--out", "--progress")
        )
        reports = [_graded(model_id) for model_id in ids]
        out.write_text(json.dumps(reports))
        progress.mkdir(parents=True, exist_ok=True)
        for n, report in enumerate(reports):
            (progress / f"{n:06d}.json").write_text(json.dumps(report))
        return ending

    monkeypatch.setattr(sandbox, "run", run)
    return started


def _graded(model_id: str) -> dict:
    report = GradeReport(status="graded", score=99.0, public_accuracy=0.99)
    return {**report.to_dict(), "id": model_id}
