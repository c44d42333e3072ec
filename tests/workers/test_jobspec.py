"""The job spec and result: plain, versioned data whose validation refuses what is
malformed, oversized or hostile, naming the field (no Django, no sandbox run)."""

import copy
import json

import pytest

from workers import sandbox
from workers.jobspec import (
    MAX_DATA,
    VERSION,
    DataRef,
    JobResult,
    JobSpec,
    JobSpecError,
    folder_digest,
    job_result_from_sandbox,
)

SPEC = {
    "version": VERSION,
    "kind": "check",
    "job_id": "check:7",
    "keras_backend": "tensorflow",
    "sandbox_backend": "bwrap",
    "script_sha256": "a" * 64,
    "data": [{"name": "train", "mount": "/data", "digest": "b" * 64}],
    "limits": {
        "wall_seconds": 60,
        "memory_bytes": 2**30,
        "log_bytes": 1000,
        "cpus": 1.5,
    },
    "returns": ["model.keras"],
}
RESULT = {
    "version": VERSION,
    "job_id": "check:7",
    "ending": "ok",
    "exit_code": 0,
    "wall_seconds": 12.5,
    "cpu_seconds": 30.0,
    "peak_memory_bytes": 500_000_000,
    "log": "Epoch 1/1\n",
    "log_truncated": False,
    "artifacts": [{"name": "model.keras", "sha256": "c" * 64, "size_bytes": 1000}],
}


def _spec() -> JobSpec:
    return JobSpec.from_dict(SPEC)


def _with(base: dict, path: str, value: object) -> dict:
    """Return a deep copy of `base` with the dotted `path` set (or removed)."""
    out = copy.deepcopy(base)
    *parents, last = path.split(".")
    here = out
    for part in parents:
        here = here[int(part)] if isinstance(here, list) else here[part]
    if value is REMOVE:
        del here[last]
    elif isinstance(here, list):
        here[int(last)] = value
    else:
        here[last] = value
    return out


REMOVE = object()


def test_a_spec_and_result_round_trip_through_json():
    spec = _spec()
    assert JobSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    result = JobResult.from_dict(RESULT, spec=spec)
    again = JobResult.from_dict(json.loads(json.dumps(result.to_dict())), spec=spec)
    assert again == result
    assert spec.sandbox_limits().wall_seconds == 60
    assert spec.sandbox_limits().cpus == 1.5
    assert spec.sandbox_limits().cpu_seconds == sandbox.SandboxLimits().cpu_seconds


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("version", 2, "spec.version"),
        ("version", True, "spec.version"),
        ("kind", "mine", "spec.kind"),
        ("job_id", "", "spec.job_id"),
        ("job_id", "x" * 201, "spec.job_id"),
        ("job_id", "check:\x1b[2J", "spec.job_id"),
        ("keras_backend", "theano", "spec.keras_backend"),
        ("sandbox_backend", "docker", "spec.sandbox_backend"),
        ("script_sha256", "A" * 64, "spec.script_sha256"),
        ("script_sha256", REMOVE, "spec.script_sha256"),
        ("data", "train", "spec.data"),
        ("data", [SPEC["data"][0]] * (MAX_DATA + 1), "spec.data"),
        ("data.0.mount", "/data/../etc", "spec.data[0].mount"),
        ("data.0.mount", "data", "spec.data[0].mount"),
        ("data.0.name", "../x", "spec.data[0].name"),
        ("data.0.digest", "b" * 63, "spec.data[0].digest"),
        ("limits", {}, "spec.limits"),
        ("limits.wall_seconds", -1, "spec.limits.wall_seconds"),
        ("limits.wall_seconds", float("inf"), "spec.limits.wall_seconds"),
        ("limits.wall_seconds", "60", "spec.limits.wall_seconds"),
        ("limits.gpu_hours", 1, "spec.limits.gpu_hours"),
        ("limits.cpus", -0.5, "spec.limits.cpus"),
        ("limits.cpus", float("nan"), "spec.limits.cpus"),
        ("returns.0", "../../model.keras", "spec.returns[0]"),
        ("extra", 1, "spec.extra"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field(path, value, field):
    with pytest.raises(JobSpecError) as refused:
        JobSpec.from_dict(_with(SPEC, path, value))
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")


def test_two_folders_on_one_mount_are_refused():
    data = [SPEC["data"][0], {**SPEC["data"][0], "name": "other"}]
    with pytest.raises(JobSpecError, match=r"^spec.data: two folders share"):
        JobSpec.from_dict({**SPEC, "data": data})


def test_a_spec_built_in_code_is_validated_too():
    with pytest.raises(JobSpecError, match=r"^spec.kind"):
        JobSpec(
            version=VERSION,
            kind="mine",
            job_id="x",
            keras_backend="tensorflow",
            sandbox_backend="bwrap",
            script_sha256="a" * 64,
            data=(DataRef("train", "/data", "b" * 64),),
            limits={"wall_seconds": 1},
            returns=(),
        )


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("version", 0, "result.version"),
        ("job_id", "check:8", "result.job_id"),
        ("ending", "graded", "result.ending"),
        ("exit_code", "0", "result.exit_code"),
        ("exit_code", 10**6, "result.exit_code"),
        ("wall_seconds", -0.5, "result.wall_seconds"),
        ("wall_seconds", float("nan"), "result.wall_seconds"),
        ("cpu_seconds", 10**12, "result.cpu_seconds"),
        ("peak_memory_bytes", 1.5, "result.peak_memory_bytes"),
        ("log", b"bytes", "result.log"),
        ("log", "x" * 6000, "result.log"),
        ("log_truncated", "no", "result.log_truncated"),
        ("artifacts", {"model.keras": 1}, "result.artifacts"),
        ("artifacts.0.name", "secrets.txt", "result.artifacts[0].name"),
        ("artifacts.0.name", "../model.keras", "result.artifacts[0].name"),
        ("artifacts.0.sha256", "z" * 64, "result.artifacts[0].sha256"),
        ("artifacts.0.size_bytes", 2**40, "result.artifacts[0].size_bytes"),
        ("artifacts.0.size_bytes", 2**30, "result.artifacts[0].size_bytes"),
        ("artifacts.0.extra", 1, "result.artifacts[0].extra"),
        ("signed_by", "me", "result.signed_by"),
    ],
)
def test_a_hostile_result_is_refused_naming_the_field(path, value, field):
    """What a host or sandbox sends back is untrusted: a result for another job,
    an artifact not asked for, a log or file larger than the spec allows."""
    with pytest.raises(JobSpecError) as refused:
        JobResult.from_dict(_with(RESULT, path, value), spec=_spec())
    assert refused.value.field == field


def test_one_artifact_given_twice_is_refused():
    twice = {**RESULT, "artifacts": RESULT["artifacts"] * 2}
    with pytest.raises(JobSpecError, match=r"^result.artifacts: names one"):
        JobResult.from_dict(twice, spec=_spec())


def test_a_sandbox_ending_reads_back_through_the_spec():
    ended = sandbox.SandboxResult(
        outcome=sandbox.Outcome.TIMED_OUT,
        exit_code=None,
        wall_seconds=60.2,
        cpu_seconds=1.0,
        peak_memory_bytes=None,
        log="started\n",
        log_truncated=False,
        backend="bwrap",
    )
    result = job_result_from_sandbox(spec=_spec(), result=ended)
    assert (result.ending, result.exit_code) == ("timed_out", None)
    assert result.log == ended.log
    flood = sandbox.SandboxResult(**{**ended.__dict__, "log": "x" * 10_000})
    with pytest.raises(JobSpecError, match=r"^result.log"):
        job_result_from_sandbox(spec=_spec(), result=flood)


def test_a_folder_digest_changes_with_its_files(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"1")
    before = folder_digest(tmp_path)
    assert before == folder_digest(tmp_path)
    (tmp_path / "b.npy").write_bytes(b"2")
    assert folder_digest(tmp_path) != before
