"""A job spec and a job result: what a host needs to run a job, and what comes back.

Plain, versioned, validated data with no Django, so a host that is not the
site can run the same spec (the next step: hosts that join over the network).
Today's in-process workers build a `JobSpec`, run the sandbox with its limits,
and read the sandbox's ending back through `JobResult`, whose validation
refuses anything malformed, oversized or hostile: everything a sandbox or a
host says is untrusted input. A refusal is a `JobSpecError` whose message
names the field.

Both travel as JSON objects (`to_dict` / `from_dict`); an unknown field, a
wrong type, a value out of range or a version this code does not read is
refused, never guessed at.
"""

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.sandbox import Outcome, SandboxLimits, SandboxResult

VERSION = 1
KINDS = frozenset({"train", "evaluate", "regrade", "check", "predict"})
KERAS_BACKENDS = frozenset({"tensorflow", "jax", "torch"})
SANDBOX_BACKENDS = frozenset({"bwrap", "local"})
ENDINGS = frozenset(str(outcome) for outcome in Outcome)
# The limits a spec may set: exactly the sandbox's, numbers only.
LIMITS = frozenset(field.name for field in dataclasses.fields(SandboxLimits))

MAX_ID = 200
MAX_NAME = 100
# A regrade chunk names each model it grades (up to 100, the site's
# CHUNK_MAX_MODELS) beside its split and base.
MAX_DATA = 128
MAX_ARTIFACTS = 16
# A result's log is the sandbox's capped tail; a host may not send more. The
# log is text the participant printed: it is neutralised where it is stored.
MAX_LOG_CHARS = 4 * 1024 * 1024
LOG_MARGIN = 4096
# Bytes of an artifact (a saved model); the work dir's limit caps it below.
MAX_ARTIFACT_BYTES = 2 * 1024**3
MAX_SECONDS = 7 * 24 * 3600.0
MAX_BYTES = 2**50

SHA256 = re.compile(r"[0-9a-f]{64}")
# A name a host may use as a file or mount name: no path, no control character.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MOUNT = re.compile(r"/[A-Za-z0-9._/-]*")


class JobSpecError(ValueError):
    """A spec or result that is malformed; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def _text(value: object, field: str, *, limit: int, pattern=None) -> str:
    if not isinstance(value, str):
        raise JobSpecError(field, "must be a string")
    if not value or len(value) > limit:
        raise JobSpecError(field, f"must be 1 to {limit} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise JobSpecError(field, "has characters it may not have")
    if pattern is None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise JobSpecError(field, "may not hold control characters")
    return value


def _number(value: object, field: str, *, top: float, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JobSpecError(field, "must be a number")
    if whole and not isinstance(value, int):
        raise JobSpecError(field, "must be a whole number")
    if not math.isfinite(value) or not 0 <= value <= top:
        raise JobSpecError(field, f"must be between 0 and {top:g}")
    return value


def _choice(value: object, field: str, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise JobSpecError(field, f"must be one of {', '.join(sorted(allowed))}")
    return value


def _object(value: object, field: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise JobSpecError(field, "must be an object")
    extra = sorted(str(key) for key in value if key not in allowed)
    if extra:
        raise JobSpecError(f"{field}.{extra[0]}", "is not a field of this version")
    missing = sorted(key for key in allowed if key not in value)
    if missing:
        raise JobSpecError(f"{field}.{missing[0]}", "is missing")
    return value


def _list(value: object, field: str, *, limit: int) -> list:
    if not isinstance(value, list | tuple):
        raise JobSpecError(field, "must be a list")
    if len(value) > limit:
        raise JobSpecError(field, f"may hold at most {limit} entries")
    return list(value)


def _version(value: object, field: str) -> int:
    if value != VERSION or isinstance(value, bool):
        raise JobSpecError(field, f"must be {VERSION} (this code reads no other)")
    return VERSION


def _fields(cls: type) -> set[str]:
    return {field.name for field in dataclasses.fields(cls)}


@dataclass(frozen=True)
class DataRef:
    """A folder of data the job may see, read-only, at `mount`."""

    name: str
    mount: str
    digest: str  # of the folder's listing (names, sizes, times)

    @classmethod
    def from_dict(cls, value: object, field: str) -> "DataRef":
        value = _object(value, field, _fields(cls))
        mount = _text(value["mount"], f"{field}.mount", limit=MAX_NAME, pattern=MOUNT)
        if ".." in mount.split("/"):
            raise JobSpecError(f"{field}.mount", "may not climb out with ..")
        return cls(
            name=_text(value["name"], f"{field}.name", limit=MAX_NAME, pattern=NAME),
            mount=mount,
            digest=_text(value["digest"], f"{field}.digest", limit=64, pattern=SHA256),
        )


@dataclass(frozen=True)
class JobSpec:
    """What a host needs to run one job."""

    version: int
    kind: str
    job_id: str  # e.g. "run:12" or "check:7": where the result goes
    keras_backend: str
    sandbox_backend: str
    script_sha256: str  # the participant's script, fetched by digest
    data: tuple[DataRef, ...]
    limits: Mapping[str, float]  # SandboxLimits' fields
    returns: tuple[str, ...]  # the artifacts it must give back, by name

    def __post_init__(self) -> None:
        # One validation, whoever builds it: a spec that exists is valid.
        JobSpec.from_dict(self.to_dict())

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "kind": self.kind,
            "job_id": self.job_id,
            "keras_backend": self.keras_backend,
            "sandbox_backend": self.sandbox_backend,
            "script_sha256": self.script_sha256,
            "data": [dataclasses.asdict(ref) for ref in self.data],
            "limits": dict(self.limits),
            "returns": list(self.returns),
        }

    @classmethod
    def from_dict(cls, value: object) -> "JobSpec":
        value = _object(value, "spec", _fields(cls))
        data = _list(value["data"], "spec.data", limit=MAX_DATA)
        refs = tuple(
            DataRef.from_dict(ref, f"spec.data[{n}]") for n, ref in enumerate(data)
        )
        mounts = [ref.mount for ref in refs]
        if len(set(mounts)) != len(mounts):
            raise JobSpecError("spec.data", "two folders share one mount")
        limits = value["limits"]
        if not isinstance(limits, Mapping) or not limits:
            raise JobSpecError("spec.limits", "must be an object of limits")
        for name, number in limits.items():
            if name not in LIMITS:
                raise JobSpecError(f"spec.limits.{name}", "is not a sandbox limit")
            _number(number, f"spec.limits.{name}", top=MAX_BYTES)
        returns = _list(value["returns"], "spec.returns", limit=MAX_ARTIFACTS)
        spec = object.__new__(cls)
        for name, field_value in {
            "version": _version(value["version"], "spec.version"),
            "kind": _choice(value["kind"], "spec.kind", KINDS),
            "job_id": _text(value["job_id"], "spec.job_id", limit=MAX_ID),
            "keras_backend": _choice(
                value["keras_backend"], "spec.keras_backend", KERAS_BACKENDS
            ),
            "sandbox_backend": _choice(
                value["sandbox_backend"], "spec.sandbox_backend", SANDBOX_BACKENDS
            ),
            "script_sha256": _text(
                value["script_sha256"], "spec.script_sha256", limit=64, pattern=SHA256
            ),
            "data": refs,
            "limits": dict(limits),
            "returns": tuple(
                _text(name, f"spec.returns[{n}]", limit=MAX_NAME, pattern=NAME)
                for n, name in enumerate(returns)
            ),
        }.items():
            object.__setattr__(spec, name, field_value)
        return spec

    def sandbox_limits(self) -> SandboxLimits:
        """Return the limits the sandbox runs this job with."""
        return SandboxLimits(**self.limits)


@dataclass(frozen=True)
class Artifact:
    """A file the job gave back, named in its spec's `returns`, by digest."""

    name: str
    sha256: str
    size_bytes: int

    @classmethod
    def from_dict(cls, value: object, field: str) -> "Artifact":
        value = _object(value, field, _fields(cls))
        return cls(
            name=_text(value["name"], f"{field}.name", limit=MAX_NAME, pattern=NAME),
            sha256=_text(value["sha256"], f"{field}.sha256", limit=64, pattern=SHA256),
            size_bytes=int(
                _number(
                    value["size_bytes"],
                    f"{field}.size_bytes",
                    top=MAX_ARTIFACT_BYTES,
                    whole=True,
                )
            ),
        )


@dataclass(frozen=True)
class JobResult:
    """What comes back from a host: how the sandbox ended, usage, log, artifacts."""

    version: int
    job_id: str
    ending: str  # a sandbox Outcome
    exit_code: int | None
    wall_seconds: float
    cpu_seconds: float
    peak_memory_bytes: int | None
    log: str
    log_truncated: bool
    artifacts: tuple[Artifact, ...]

    def to_dict(self) -> dict:
        return {
            **{
                field.name: getattr(self, field.name)
                for field in dataclasses.fields(self)
            },
            "artifacts": [dataclasses.asdict(a) for a in self.artifacts],
        }

    @classmethod
    def from_dict(cls, value: object, *, spec: JobSpec) -> "JobResult":
        """Read a result for `spec`, refusing what the spec did not ask for."""
        value = _object(value, "result", _fields(cls))
        job_id = _text(value["job_id"], "result.job_id", limit=MAX_ID)
        if job_id != spec.job_id:
            raise JobSpecError("result.job_id", "is not the job this spec ran")
        exit_code = value["exit_code"]
        if exit_code is not None and (
            isinstance(exit_code, bool)
            or not isinstance(exit_code, int)
            or not -255 <= exit_code <= 255
        ):
            raise JobSpecError("result.exit_code", "must be null or -255 to 255")
        peak = value["peak_memory_bytes"]
        if peak is not None:
            peak = int(
                _number(peak, "result.peak_memory_bytes", top=MAX_BYTES, whole=True)
            )
        log = value["log"]
        if not isinstance(log, str):
            raise JobSpecError("result.log", "must be a string")
        # The sandbox keeps a tail of log_bytes, plus its own marker line.
        most = min(MAX_LOG_CHARS, int(spec.sandbox_limits().log_bytes) + LOG_MARGIN)
        if len(log) > most:
            raise JobSpecError("result.log", f"is longer than {most} characters")
        if not isinstance(value["log_truncated"], bool):
            raise JobSpecError("result.log_truncated", "must be true or false")
        listed = _list(value["artifacts"], "result.artifacts", limit=MAX_ARTIFACTS)
        artifacts = tuple(
            Artifact.from_dict(item, f"result.artifacts[{n}]")
            for n, item in enumerate(listed)
        )
        limit = spec.sandbox_limits().work_dir_bytes
        for n, artifact in enumerate(artifacts):
            if artifact.name not in spec.returns:
                raise JobSpecError(
                    f"result.artifacts[{n}].name", "was not asked for by the spec"
                )
            if artifact.size_bytes > limit:
                raise JobSpecError(
                    f"result.artifacts[{n}].size_bytes",
                    "is larger than the job's work dir may hold",
                )
        if len({a.name for a in artifacts}) != len(artifacts):
            raise JobSpecError("result.artifacts", "names one artifact twice")
        return cls(
            version=_version(value["version"], "result.version"),
            job_id=job_id,
            ending=_choice(value["ending"], "result.ending", ENDINGS),
            exit_code=exit_code,
            wall_seconds=float(
                _number(value["wall_seconds"], "result.wall_seconds", top=MAX_SECONDS)
            ),
            cpu_seconds=float(
                _number(value["cpu_seconds"], "result.cpu_seconds", top=MAX_SECONDS)
            ),
            peak_memory_bytes=peak,
            log=log,
            log_truncated=value["log_truncated"],
            artifacts=artifacts,
        )


def job_result_from_sandbox(
    *, spec: JobSpec, result: SandboxResult, artifacts: tuple[Artifact, ...] = ()
) -> JobResult:
    """Return the validated result of a sandbox run in this process.

    The same validation a remote host's answer gets: an in-process run goes
    through the spec's wire form, so the two cannot drift.
    """
    wire = {
        "version": VERSION,
        "job_id": spec.job_id,
        "ending": str(result.outcome),
        "exit_code": result.exit_code,
        "wall_seconds": result.wall_seconds,
        "cpu_seconds": result.cpu_seconds,
        "peak_memory_bytes": result.peak_memory_bytes,
        "log": result.log,
        "log_truncated": result.log_truncated,
        "artifacts": [dataclasses.asdict(a) for a in artifacts],
    }
    return JobResult.from_dict(wire, spec=spec)


# TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512
# VNNI/BF16 or AMX. On an AVX2 host (the AMD EPYC workers measured) they train
# the DL101 CNN 2.7x and run it over the hidden split 2.6x faster, so every
# sandbox asks for them (docs/sandbox.md).
TF_KERNELS_ENV = {"TF_ENABLE_ONEDNN_OPTS": "1"}


# What a job of a kind is told of itself, wherever it runs: a check may say
# "quick check" (fewer epochs) if it wants to.
KIND_ENV: dict[str, dict[str, str]] = {"check": {"DOJO_CHECK_RUN": "1"}}


def job_env(*, keras_backend: str) -> dict[str, str]:
    """Return the environment every sandboxed job starts from, site or runner."""
    return {
        "KERAS_BACKEND": keras_backend,
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **TF_KERNELS_ENV,
    }


def folder_digest(folder: str | os.PathLike) -> str:
    """Return a digest of a data folder's listing (names, sizes, change times),
    or of one plain file's (a model: its name, size and change time)."""
    root = Path(folder)
    if root.is_file() and not root.is_symlink():
        stat = root.stat()
        listing = [(root.name, stat.st_size, stat.st_mtime_ns)]
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    listing = sorted(
        (str(path.relative_to(root)), path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    )
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()
