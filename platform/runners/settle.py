"""Take a runner's model out of the object store, on the site's own worker.

A result whose model was staged in the object store (`results`) leaves the
job's `pending` note: the names of the uploads it named. Before the
submission's evaluation, the evaluating worker (`submissions.extensions.
model_settle`) reads each one back, bounded by its signed length, counts and
hashes it, and keeps the model as a site worker's (inspected, within the
participant's quota: `artifact_keep`).

Who is at fault decides how it ends:
- bytes other than those announced, or an upload that never arrived whole,
  are the host's doing (broken or compromised), not the participant's: the
  training is handed back to run again, bounded by the retry policy
  (`TrainingHandBack`), never `failed`;
- a store that does not answer is the platform's: the evaluation ends
  `error` (refunded), as any platform fault does;
- a model the keeper refuses (no Keras archive, over the quota) is the
  participant's: `failed`, with the keeper's reason, as on a site worker.

The note is cleared and the run's staging objects deleted however it ends
(where the store is away, its expiry of `staging/` removes them).
"""

import os

from runners.files import upload_dir, upload_take, uploads_discard
from runners.models import HostJob
from runners.refusals import RunnerRefused
from submissions.artifacts import artifact_keep
from submissions.extensions import TrainingHandBack
from submissions.models import Run, Submission
from submissions.services.execution import no_model_reason
from workers.jobspec import JobSpec


def runner_model_settle(*, submission: Submission) -> str:
    """Keep the submission's staged model; return why not ("" when kept or none)."""
    job = (
        HostJob.objects.select_related("run", "run__submission")
        .filter(run__submission=submission, pending__isnull=False)
        .order_by("-claimed_at", "-pk")
        .first()
    )
    if job is None:
        return ""
    newest = (
        Run.objects.filter(submission=submission, kind=Run.Kind.TRAIN)
        .order_by("-started_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if job.run_id != newest:
        # Left by a training a later one replaced (a cancel, then a rerun).
        _forget(job)
        return ""
    pending, run = job.pending, job.run
    limits = JobSpec.from_dict(job.spec).sandbox_limits()
    given = upload_dir(job) / "given"
    try:
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
        refused = artifact_keep(
            submission=submission, run=run, output=given, limits=limits
        )
    finally:
        _forget(job)
    if refused:
        return refused
    return "" if run.artifact_path else no_model_reason(limits)


def _forget(job: HostJob) -> None:
    """Once only, however it ended: no later evaluation takes it again."""
    HostJob.objects.filter(pk=job.pk).update(pending=None)
    uploads_discard(job)
