"""Build the job spec a host runs (`workers.jobspec`) and read its result back.

Every kind's worker builds its job as a spec (what it runs, the data it may
see, its limits, what it must give back), runs the sandbox with the spec's
limits, and reads the sandbox's ending back through the spec's validated
result (`workers.jobspec.job_result_from_sandbox`): today in this process,
next on a host that joins over the network.
"""

import dataclasses
import hashlib
from pathlib import Path

from django.conf import settings

from workers import sandbox
from workers.jobspec import VERSION, DataRef, JobSpec, folder_digest


def job_spec_build(
    *,
    kind: str,
    job_id: str,
    script: str,
    data: dict[str, tuple[Path, str]],
    limits: sandbox.SandboxLimits,
    returns: tuple[str, ...] = (),
) -> JobSpec:
    """Return the validated spec of one job; `data` maps name -> (folder, mount)."""
    return JobSpec(
        version=VERSION,
        kind=kind,
        job_id=job_id,
        keras_backend=settings.DOJO_KERAS_BACKEND,
        sandbox_backend=settings.DOJO_SANDBOX_BACKEND,
        script_sha256=hashlib.sha256(
            script.encode("utf-8", "surrogatepass")
        ).hexdigest(),
        data=tuple(
            DataRef(name=name, mount=mount, digest=folder_digest(folder))
            for name, (folder, mount) in data.items()
        ),
        limits=dataclasses.asdict(limits),
        returns=returns,
    )
