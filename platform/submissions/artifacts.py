"""Keep a trained model only when it is a bounded, inspected Keras archive and
the participant's disk quota has room.

A model the participant's code wrote is theirs in every way: a file the
grader's archive inspection refuses is not kept (the submission fails with the
inspection's reason, and counts), no file past `ARTIFACT_MAX_BYTES` is kept,
and what one participant keeps on disk (models, and drafts where the workspace
app stores them) is capped by `DOJO_PARTICIPANT_DISK_MB`.
"""

from pathlib import Path

from django.conf import settings

from grader import GraderError, inspect_archive
from submissions import extensions, storage
from submissions.models import Run, Submission
from workers import sandbox
from workshops import folders

ARTIFACT_MAX_BYTES = 256 * 1024 * 1024
HISTORY_MAX_BYTES = 1024 * 1024


def participant_disk_bytes(*, participant_id: int) -> int:
    """Return the bytes a participant keeps: stored models, and what apps above
    count for them (the workspace's drafts, see `submissions.extensions`)."""
    total = 0
    paths = Run.objects.filter(submission__participant_id=participant_id).exclude(
        artifact_path=""
    )
    for path in paths.values_list("artifact_path", flat=True):
        try:
            total += Path(path).stat().st_size
        except OSError:
            continue
    for counter in extensions.disk_counters():
        total += counter(participant_id)
    return total


def artifact_keep(
    *, submission: Submission, run: Run, output: Path, limits: sandbox.SandboxLimits
) -> str:
    """Keep the run's model and history; return why not ("" when kept or absent).

    An empty answer with no `run.artifact_path` means no plain model file was
    there at all (the caller says so).
    """
    keep = storage.artifact_dir(submission.pk) / f"run-{run.pk}"
    model = keep / "model.keras"
    cap = min(limits.work_dir_bytes, ARTIFACT_MAX_BYTES)
    if not sandbox.copy_out(output, "model.keras", model, max_bytes=cap):
        return ""
    try:
        inspect_archive(model)
    except GraderError as exc:
        folders.discard(keep)
        return f"Your model file cannot be used: {exc}"
    quota = settings.DOJO_PARTICIPANT_DISK_MB * 2**20
    used = participant_disk_bytes(participant_id=submission.participant_id)
    size = model.stat().st_size
    if used + size > quota:
        folders.discard(keep)
        return (
            f"Your stored models and drafts already use {used // 2**20} MiB of "
            f"your {quota // 2**20} MiB; this model ({size // 2**20} MiB) does "
            "not fit. Make it smaller (fewer or narrower layers), or ask your "
            "instructor to remove old submissions."
        )
    sandbox.copy_out(
        output, "history.json", keep / "history.json", max_bytes=HISTORY_MAX_BYTES
    )
    run.artifact_path = str(model)
    run.save(update_fields=["artifact_path"])
    return ""
