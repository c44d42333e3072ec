"""An evaluation sandbox given its job's spec runs within the spec's limits,
binds what the spec names where it names it, and reads its ending back
through the spec before any report (hand-built endings; no grader runs)."""

import dataclasses
import json

import pytest

from tests.fake_grader import ended, grader_that_ends
from workers import sandbox
from workers.evaluation import (
    evaluate_many,
    grader_limits,
    grader_mounts,
    model_mount,
)
from workers.jobspec import VERSION, DataRef, JobSpec, JobSpecError


def _job(root) -> dict:
    hidden, artifacts = root / "hidden", root / "artifacts"
    hidden.mkdir()
    artifacts.mkdir()
    (hidden / "test.npz").write_bytes(b"labels")
    (artifacts / "model.keras").write_bytes(b"model")
    return {
        "id": "7",
        "model": str(artifacts / "model.keras"),
        "spec": {"checks": {}},
        "data": str(hidden / "test.npz"),
        "base": None,
    }


def _spec(job: dict, limits: sandbox.SandboxLimits) -> JobSpec:
    ((_folder, mount),) = grader_mounts([job]).items()
    return JobSpec(
        version=VERSION,
        kind="evaluate",
        job_id="run:3",
        keras_backend="tensorflow",
        sandbox_backend="bwrap",
        script_sha256="a" * 64,
        data=(
            DataRef(name="hidden", mount=mount, digest="b" * 64),
            DataRef(name="model-7", mount=model_mount("7"), digest="c" * 64),
        ),
        limits=dataclasses.asdict(limits),
        returns=("reports.json",),
    )


def _grade(root, job: dict, spec: JobSpec, wall_seconds: int = 60):
    return evaluate_many(
        [job],
        work_root=root / "work",
        name="eval-3",
        backend="bwrap",
        env={},
        wall_seconds=wall_seconds,
        memory_bytes=2**31,
        spec=spec,
    )


def test_the_sandbox_binds_what_the_spec_names_where_it_names_it(tmp_path, monkeypatch):
    """The split at its mount, the model's copy where the spec says, and the
    spec's limits: what the spec says is what the sandbox is given."""
    job = _job(tmp_path)
    spec = _spec(job, grader_limits(60, 2**31))
    seen: list[tuple[dict, list]] = []
    grader_that_ends(monkeypatch, ended())
    faked = sandbox.run

    def run(argv: list[str], **kwargs) -> sandbox.SandboxResult:
        job_dir = next(b.source for b in kwargs["binds"] if b.target == "/job")
        seen.append((kwargs, json.loads((job_dir / "jobs.json").read_text())))
        return faked(argv, **kwargs)

    monkeypatch.setattr(sandbox, "run", run)
    outcome = _grade(tmp_path, job, spec)
    assert outcome.reports["7"]["status"] == "graded"
    [(kwargs, jobs)] = seen
    binds = {(str(b.source), b.target) for b in kwargs["binds"]}
    refs = {ref.name: ref.mount for ref in spec.data}
    assert (str(tmp_path / "hidden"), refs["hidden"]) in binds
    assert jobs[0]["model"] == refs["model-7"]
    assert jobs[0]["data"] == f"{refs['hidden']}/test.npz"
    assert kwargs["limits"] == spec.sandbox_limits()


def test_a_refused_ending_raises_before_any_report_and_leaves_no_folder(
    tmp_path, monkeypatch
):
    """A graded report is there, but the ending's log is past the spec's."""
    job = _job(tmp_path)
    limits = grader_limits(60, 2**31)
    grader_that_ends(monkeypatch, ended(log="x" * (limits.log_bytes + 5000)))
    with pytest.raises(JobSpecError, match=r"^result.log: "):
        _grade(tmp_path, job, _spec(job, limits))
    assert list((tmp_path / "work").iterdir()) == []


def test_a_grader_is_never_started_past_its_specs_limits(tmp_path, monkeypatch):
    """More wall time, or other memory, than the spec says: refused unstarted."""
    job = _job(tmp_path)
    started = grader_that_ends(monkeypatch, ended())
    spec = _spec(job, grader_limits(60, 2**31))
    with pytest.raises(ValueError, match="past its spec"):
        _grade(tmp_path, job, spec, wall_seconds=61)
    assert started == []
    outcome = _grade(tmp_path, job, spec, wall_seconds=30)
    assert outcome.reports["7"]["status"] == "graded"
