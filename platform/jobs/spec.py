"""Build the job spec a host runs (`workers.jobspec`) and read its result back.

Every kind's worker builds its job as a spec (what it runs, the data it may
see, its limits, what it must give back), runs the sandbox with the spec's
limits, and reads the sandbox's ending back through the spec's validated
result (`workers.jobspec.job_result_from_sandbox`): today in this process,
next on a host that joins over the network. An evaluation (a submission's,
a regrade chunk's, a check's grading) is a job of the same form; it runs only
on the site's own workers, as the hidden split never leaves the site.
"""

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from django.conf import settings

from workers import sandbox
from workers.evaluation import grader_mounts, model_mount
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


def evaluation_spec_build(
    *,
    kind: str,
    job_id: str,
    jobs: Sequence[Mapping],
    split: str,
    limits: sandbox.SandboxLimits,
) -> JobSpec:
    """Return the spec of one evaluation sandbox: the grader over ``jobs``.

    ``jobs`` are what ``workers.evaluation`` grades ({id, model, spec, data,
    base}); a regrade chunk's are many. The spec names every folder the
    sandbox sees by digest, never by content, at the mount the grader finds
    it: the split (``split``: "hidden", a check's "public") and the base
    model's folder where the grader binds them, and each model file where the
    grader reads its copy. Its script is what the grader is told: grade
    each model against its assignment's grading spec; it gives back its
    reports (read apart, bounded: ``workers.outputs``).
    """
    splits = {str(Path(job["data"]).parent) for job in jobs}
    data: dict[str, tuple[Path, str]] = {}
    for folder, mount in grader_mounts(jobs).items():
        name = split if folder in splits else "base"
        data[f"{name}-{len(data)}" if name in data else name] = (Path(folder), mount)
    for job in jobs:
        model_id = str(job["id"])
        # The model file itself: a check's model lies in the check's job
        # folder, beside the participant's script.
        data[f"model-{model_id}"] = (Path(job["model"]), model_mount(model_id))
    script = json.dumps(
        {
            "run": "python -m grader batch",
            "jobs": [{"id": str(job["id"]), "spec": job["spec"]} for job in jobs],
        },
        sort_keys=True,
    )
    return job_spec_build(
        kind=kind,
        job_id=job_id,
        script=script,
        data=data,
        limits=limits,
        returns=("reports.json",),
    )
