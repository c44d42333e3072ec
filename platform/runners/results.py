"""A runner's result: validated as hostile input, then applied as a site worker's.

The result must be for a job the host still holds, read through the job
spec's validation (`workers.jobspec.JobResult`), and name only artifacts the
host announced with the same sha256 and size. Only one result per job is
ever applied. Its kind (`runners.kinds`) then reads it exactly as a site
worker's sandbox: a submission's model is kept (inspected, within the
participant's quota: `training_settle`) and its evaluation queued on the
site's own workers; a check's model goes to the site's grader of checks. The
hidden split, and the public sample cut from it, never leave the site.

A model is never read here, wherever the host uploaded it (the object store
or the site's disk): this request does nothing that grows with what the
host sent. The training is recorded as trained, the job notes which uploads
the result names (`pending`), and the site's worker that next needs the
model (a submission's evaluation, a check's checking) takes them first,
verified (`runners.settle`). A result without a model ends the job from
the result alone.
"""

from django.db.models import F
from django.utils import timezone

from jobs.outcome import JobOutcome, Verdict
from runners.files import upload_dir, uploads_discard
from runners.jobs import job_held
from runners.kinds import KINDS
from runners.models import Host, HostJob
from runners.refusals import RunnerRefused
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


def runner_result(*, host: Host, job_id: object, data: dict) -> str:
    """Apply a runner's result for a job it holds; return the job's verdict."""
    job = job_held(host=host, job_id=job_id)
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
    kind = KINDS[job.kind]
    staged = (
        sandbox.Outcome(result.ending) == sandbox.Outcome.OK and "model.keras" in names
    )
    # One result per job: the first to mark it is the one applied.
    now = timezone.now()
    marked = HostJob.objects.filter(pk=job.pk, result_at__isnull=True)
    if not marked.update(
        result_at=now,
        pending={"names": names, "attempts": kind.attempts(job)} if staged else None,
    ):
        raise RunnerRefused(f"job {job.pk}: its result was already sent.", 409)
    taken_later = False
    try:
        if staged:
            # The model waits where the host uploaded it (the object store, or
            # the site's disk): the site's worker takes it, verified, before
            # the evaluation or the check (`runners.settle`). Nothing here
            # grows with its size.
            verdict = kind.record(job, _sandbox_result(result, spec), device, isolation)
            taken_later = verdict == Verdict.TRAINED
        else:
            # No model to keep (the training failed, or saved none): the
            # kind ends the job from the result alone.
            nothing = upload_dir(job) / "given"
            nothing.mkdir(parents=True, exist_ok=True)
            verdict = kind.settle(
                job, _sandbox_result(result, spec), nothing, device, isolation
            )
    except Exception as exc:
        kind.fail(job, exc)
        return JobOutcome.error(detail=exc).verdict
    finally:
        if not taken_later:
            # Nothing will take them (the job moved on meanwhile, say).
            if staged:
                HostJob.objects.filter(pk=job.pk).update(pending=None)
            uploads_discard(job)
    Host.objects.filter(pk=host.pk).update(jobs_done=F("jobs_done") + 1)
    return verdict
