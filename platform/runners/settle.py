"""Take a runner's model onto the site's disk, on the site's own worker.

A result whose model was staged in the object store (`results`) leaves the
job's `pending` note: the names of the uploads it named. Both kinds of job
take it the same way, on the site worker that next needs the model: before a
submission's evaluation (`submissions.extensions.model_settle`) and before a
check's model is checked (`checks.extensions.model_settle`), the worker reads
each one back, bounded by its signed length, counts and hashes it, and keeps
the model as a site worker's: a submission's inspected and within the
participant's quota (`artifact_keep`), a check's as its sandbox's
(`check_trained_model`'s reading, at `CheckRun.kept_model`).

Who is at fault decides how it ends:
- bytes other than those announced, or an upload that never arrived whole,
  are the host's doing (broken or compromised), not the participant's: the
  training is handed back to run again, bounded by the retry policy
  (`TrainingHandBack`), never `failed`;
- a store that does not answer is the platform's: the evaluation ends
  `error` (refunded), as any platform fault does;
- a model the keeper refuses (no Keras archive, over the quota) is the
  participant's: `failed`, with the keeper's reason, as on a site worker
  (for a check, the check's no-model reason).

The note is cleared and the run's staging objects deleted however it ends
(where the store is away, its expiry of `staging/` removes them).
"""

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from checks.execution import NO_MODEL
from checks.models import CheckRun
from jobs.reconcile import TrainingHandBack
from runners.files import upload_dir, upload_take, uploads_discard
from runners.models import HostJob
from runners.refusals import RunnerRefused
from submissions.artifacts import artifact_keep
from submissions.models import Run, Submission
from submissions.services.execution import no_model_reason
from workers import sandbox
from workers.jobspec import JobSpec


def runner_model_settle(*, submission: Submission) -> str:
    """Keep the submission's staged model; return why not ("" when kept or none)."""
    job = _pending_job(
        HostJob.objects.select_related("host", "run", "run__submission").filter(
            run__submission=submission
        ),
        # Left by a training a later one replaced (a cancel, then a rerun).
        newest=lambda job: (
            job.run_id
            == Run.objects.filter(submission=submission, kind=Run.Kind.TRAIN)
            .order_by("-started_at", "-pk")
            .values_list("pk", flat=True)
            .first()
        ),
    )
    if job is None:
        return ""
    run = job.run
    limits = JobSpec.from_dict(job.spec).sandbox_limits()
    with _taken(job) as given:
        refused = artifact_keep(
            submission=submission, run=run, output=given, limits=limits
        )
    if refused:
        return refused
    return "" if run.artifact_path else no_model_reason(limits)


def runner_check_model_settle(*, check: CheckRun) -> str:
    """Keep the model a host trained for `check` where the site's grader reads
    it (`CheckRun.kept_model`); return why not ("" when kept or none waited).

    The same reading as a site worker's sandbox (`check_trained_model`): a
    plain file, never a link, within the check's work-folder limit.
    """
    jobs = HostJob.objects.filter(check_run=check)
    job = _pending_job(
        jobs.select_related("host"),
        # Left by a training the check handed out again since.
        newest=lambda job: (
            job.pk
            == jobs.order_by("-claimed_at", "-pk").values_list("pk", flat=True).first()
        ),
    )
    if job is None:
        return ""
    max_bytes = int(JobSpec.from_dict(job.spec).sandbox_limits().work_dir_bytes)
    with _taken(job) as given:
        model = check.kept_model
        model.parent.mkdir(parents=True, exist_ok=True)
        kept = sandbox.copy_out(given, "model.keras", model, max_bytes=max_bytes)
    return "" if kept else NO_MODEL.format(mb=max_bytes // 2**20)


def _pending_job(jobs, *, newest: Callable[[HostJob], bool]) -> HostJob | None:
    """Return the latest of ``jobs`` whose result left a note, if it is still
    the newest training of its work; an older one's note is forgotten."""
    job = jobs.filter(pending__isnull=False).order_by("-claimed_at", "-pk").first()
    if job is not None and not newest(job):
        _forget(job)
        return None
    return job


@contextlib.contextmanager
def _taken(job: HostJob) -> Iterator[Path]:
    """Yield the folder of the job's verified uploads; forget the note after,
    however it ends (taken once only)."""
    try:
        yield _staged_take(job)
    finally:
        _forget(job)


def _staged_take(job: HostJob) -> Path:
    """Return a folder holding the verified uploads the job's result named.

    Bytes other than those announced (or none) are the host's doing: the
    training is handed back, with the attempts it had used.
    """
    pending = job.pending
    given = upload_dir(job) / "given"
    given.mkdir(parents=True, exist_ok=True)
    try:
        for name in pending["names"]:
            os.replace(upload_take(job=job, name=name), given / name)
    except RunnerRefused as exc:
        if exc.status != 409:
            raise
        raise TrainingHandBack(
            f"runner host {job.host.name} staged bytes other than those it "
            f"announced ({exc}); the training runs again",
            attempts=pending["attempts"],
        ) from None
    return given


def _forget(job: HostJob) -> None:
    """Once only, however it ended: no later evaluation takes it again."""
    HostJob.objects.filter(pk=job.pk).update(pending=None)
    uploads_discard(job)
