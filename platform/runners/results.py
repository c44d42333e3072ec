"""A runner's result: validated as hostile input, then applied as a site worker's.

The result must be for a job the host still holds, read through the job
spec's validation (`workers.jobspec.JobResult`), and name only artifacts the
host announced with the same sha256 and size. Only one result per job is
ever applied. The model is then kept exactly as a site worker keeps it
(inspected, within the participant's quota: `training_settle`), and the
outcome goes through the one applier, which queues the evaluation on the
site's own workers: the hidden split never leaves the site.

A model staged in the object store is not read here: this request does
nothing that grows with what the host sent. The training is recorded as
trained, the job notes which staged uploads the result names (`pending`),
and the evaluation's worker reads them back, verifies and keeps them first
(`runners.settle`).
"""

import os

from django.db.models import F
from django.utils import timezone

from jobs.outcome import JobOutcome
from runners.files import object_store_on, upload_dir, uploads_discard
from runners.jobs import job_held
from runners.models import Host, HostJob
from runners.refusals import RunnerRefused
from submissions.models import Run
from submissions.services.execution import training_record, training_settle
from submissions.services.jobs import job_apply, job_platform_error
from workers import sandbox
from workers.jobspec import JobResult, JobSpec, JobSpecError


def _sandbox_result(result: JobResult, spec: JobSpec) -> sandbox.SandboxResult:
    return sandbox.SandboxResult(
        outcome=sandbox.Outcome(result.ending),
        exit_code=result.exit_code,
        wall_seconds=result.wall_seconds,
        cpu_seconds=result.cpu_seconds,
        peak_memory_bytes=result.peak_memory_bytes,
        log=result.log,
        log_truncated=result.log_truncated,
        backend="runner",
        limits=spec.sandbox_limits(),
    )


def runner_result(*, host: Host, run_id: object, data: dict) -> str:
    """Apply a runner's result for a job it holds; return the job's verdict."""
    job = job_held(host=host, run_id=run_id)
    if set(data) - {"result", "device", "isolation"}:
        raise RunnerRefused("A result is sent as {result, device, isolation}.")
    isolation = data.get("isolation", "")
    if not isinstance(isolation, str) or len(isolation) > 160:
        raise RunnerRefused("isolation: must be text of at most 160 characters.")
    spec = JobSpec.from_dict(job.spec)
    try:
        result = JobResult.from_dict(data.get("result"), spec=spec)
    except JobSpecError as exc:
        raise RunnerRefused(str(exc)) from None
    device = sandbox.parse_device(data.get("device"))
    for n, artifact in enumerate(result.artifacts):
        uploaded = job.uploads.get(artifact.name) or {}
        if (uploaded.get("sha256"), uploaded.get("size")) != (
            artifact.sha256,
            artifact.size_bytes,
        ):
            raise RunnerRefused(
                f"result.artifacts[{n}]: {artifact.name} was not uploaded with "
                "this sha256 and size.",
                409,
            )
    names = [a.name for a in result.artifacts]
    staged = (
        object_store_on()
        and sandbox.Outcome(result.ending) == sandbox.Outcome.OK
        and "model.keras" in names
    )
    # One result per job: the first to mark it is the one applied.
    now = timezone.now()
    marked = HostJob.objects.filter(pk=job.pk, result_at__isnull=True)
    if not marked.update(
        result_at=now,
        pending={"names": names, "attempts": job.run.submission.attempts}
        if staged
        else None,
    ):
        raise RunnerRefused(f"job {job.run_id}: its result was already sent.", 409)
    run = job.run
    try:
        # What the host says of its sandbox: shown on the hosts page, as said.
        run.isolation = sandbox.neutralise(f"runner {host.name}: {isolation}")[:200]
        run.save(update_fields=["isolation"])
        if staged:
            # The model waits in the object store: the site's worker reads it
            # back, verifies and keeps it before the evaluation
            # (`runners.settle`). Nothing here grows with its size.
            training_record(
                run=run, result=_sandbox_result(result, spec), device=device
            )
            outcome = JobOutcome.trained()
        else:
            outcome = _settle_here(
                job=job, run=run, result=result, spec=spec, device=device
            )
    except Exception as exc:
        job_platform_error(run=run, exc=exc)
        return JobOutcome.error(detail=exc).verdict
    finally:
        if not staged:
            uploads_discard(job)
    job_apply(run=run, outcome=outcome)
    Host.objects.filter(pk=host.pk).update(jobs_done=F("jobs_done") + 1)
    return outcome.verdict


def _settle_here(
    *,
    job: HostJob,
    run: Run,
    result: JobResult,
    spec: JobSpec,
    device: sandbox.DeviceReport | None,
) -> JobOutcome:
    """Keep what a result names that is on the site's disk already, and settle.

    Uploads to the site's own views were counted and hashed as they arrived
    (`files.upload_store`); a result that names no model keeps nothing.
    """
    given = upload_dir(job) / "given"
    given.mkdir(parents=True, exist_ok=True)
    # Only what the result names is handed to the keeper.
    for artifact in result.artifacts:
        path = upload_dir(job) / artifact.name
        if path.is_file():
            os.replace(path, given / artifact.name)
    return training_settle(
        run=run,
        result=_sandbox_result(result, spec),
        output=given,
        limits=spec.sandbox_limits(),
        device=device,
    )
