"""A runner's jobs: claim one, beat for all of them, authorize an upload.

A runner claims a job through its kind's one claim (`runners.kinds`: a
submission's training takes the same token check, attempt count and run row
as a site worker's; a check run's training the check's), so a job is never
run twice; the job carries the host as its worker, and the one reconciler
hands it back when its heartbeats stop. A host may touch only the jobs it
holds: its own, whose token is still the job's. The job number the API uses
is the `HostJob`'s.
"""

import contextlib
import threading
import time
from collections.abc import Iterator

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from runners.files import archive_for, download_urls, upload_url
from runners.kinds import KINDS, RETURNS, host_can_train, host_jobs_held
from runners.models import Host, HostJob
from runners.refusals import RunnerRefused
from workers.jobspec import LOG_MARGIN, SHA256, JobSpec

MAX_BEATS = 64
POLL_STEP_SECONDS = 0.5
# Candidates one claim looks at, per kind (others may take some meanwhile).
CLAIM_WINDOW = 5
# When a runner that found no work and could not wait asks again. A job then
# waits at most this long for a slot beyond the ones held waiting: nothing
# beside a training of minutes.
RETRY_AFTER_SECONDS = 5.0

# Requests for work this process holds open now (DOJO_RUNNER_LONG_POLLS).
_waiting_lock = threading.Lock()
_waiting = {"held": 0}


def heartbeat_seconds() -> float:
    """Return how often a runner beats: well inside the reconciler's grace."""
    return max(1.0, min(5.0, settings.DOJO_HEARTBEAT_GRACE_SECONDS / 6))


def job_held(*, host: Host, job_id: object, lock: bool = False) -> HostJob:
    """Return the host's job `job_id`, or refuse one it does not hold."""
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise RunnerRefused("job: must be a job number.")
    # Not the logs: a heartbeat would read back what it is about to write.
    rows = HostJob.objects.select_related(
        "host", "run__submission", "check_run__assignment"
    ).defer("run__log", "check_run__log")
    if lock:
        rows = rows.select_for_update(of=("self",))
    job = rows.filter(pk=job_id).first()
    if job is None or job.host_id != host.pk:
        raise RunnerRefused(f"job {job_id}: this host does not hold it.", 409)
    if job.result_at is not None or not KINDS[job.kind].holds(job):
        raise RunnerRefused(f"job {job_id}: this host no longer holds it.", 409)
    return job


def _claim_once(host: Host) -> HostJob | None:
    if host_jobs_held(host).count() >= host.slots or not host_can_train(host):
        return None
    for kind in KINDS.values():
        if not kind.serves(host):
            continue
        for pk, token in kind.waiting(host)[:CLAIM_WINDOW]:
            job = kind.claim(host, pk, str(token))
            if job is not None:
                return job
    return None


def runner_claim(*, host: Host, wait_seconds: float) -> HostJob | None:
    """Claim the oldest job the host may run, waiting up to `wait_seconds`.

    Check runs before trainings: they are short, and a participant waits.
    """
    deadline = time.monotonic() + max(0.0, wait_seconds)
    while True:
        job = _claim_once(host)
        if job is not None or time.monotonic() >= deadline:
            return job
        time.sleep(POLL_STEP_SECONDS)


@contextlib.contextmanager
def long_poll_place(*, wanted: bool = True) -> Iterator[bool]:
    """Take one of this process's places to hold a request for work open.

    Yields whether one was free (never, when not `wanted`): each held request
    holds a web thread, so at most DOJO_RUNNER_LONG_POLLS of a process's
    threads ever wait for work, however many runner slots are idle.
    """
    with _waiting_lock:
        free = wanted and _waiting["held"] < settings.DOJO_RUNNER_LONG_POLLS
        if free:
            _waiting["held"] += 1
    try:
        yield free
    finally:
        if free:
            with _waiting_lock:
                _waiting["held"] -= 1


def claim_wait_seconds(*, data: dict) -> float:
    """Return how long a request for work may wait: `{"wait": false}` not at all.

    A runner asks without waiting before it starts a warm spare: a spare is
    only for a host the site has no job for (`dojo_runner.spares`).
    """
    unknown = sorted(set(data) - {"wait"})
    if unknown:
        raise RunnerRefused(f"{unknown[0]}: is not a field of a request for work.")
    wait = data.get("wait", True)
    if not isinstance(wait, bool):
        raise RunnerRefused("wait: must be true or false.")
    return settings.DOJO_RUNNER_POLL_SECONDS if wait else 0.0


def runner_claim_handout(*, host: Host, wait_seconds: float) -> dict | None:
    """Claim a job for the host and return its handout, or None when none waits.

    A job whose files cannot be made ready (the object store down, say) goes
    back at once as the platform's error, never left held by a host that was
    not told of it.
    """
    job = runner_claim(host=host, wait_seconds=wait_seconds)
    if job is None:
        return None
    try:
        return job_handout(job=job)
    except Exception as exc:
        KINDS[job.kind].fail(job, exc)
        raise RunnerRefused(
            "The site could not make this job's files ready; it went back.", 503
        ) from None


def job_handout(*, job: HostJob) -> dict:
    """Return what a runner gets for a claimed job: its spec and signed URLs."""
    spec = JobSpec.from_dict(job.spec)
    kind = KINDS[job.kind]
    script = kind.script(job).encode("utf-8", "surrogatepass")
    archive, digest = archive_for(kind.train_dir(job))
    script_url, data_url = download_urls(
        job=job, script=script, archive=archive, archive_sha256=digest
    )
    return {
        "job": job.pk,
        "spec": job.spec,
        "script": {
            "url": script_url,
            "sha256": spec.script_sha256,
            "size": len(script),
        },
        # Training data only: the one folder a training spec names.
        "data": [
            {
                "name": ref.name,
                "mount": ref.mount,
                "sha256": digest,
                "size": archive.stat().st_size,
                "url": data_url,
            }
            for ref in spec.data
        ],
        # Whether the runner places the job on its GPU (a train-gpu job).
        "gpu": kind.on_gpu(job),
        "heartbeat_seconds": heartbeat_seconds(),
    }


def runner_heartbeat(*, host: Host, data: dict) -> dict:
    """Keep the host's jobs alive and store their logs; say which to cancel.

    A job the host no longer holds (handed back, cancelled, or another's) is
    answered with cancel: its runner stops it and nothing it sends counts.
    """
    beats = data.get("jobs", [])
    if not isinstance(beats, list) or len(beats) > MAX_BEATS:
        raise RunnerRefused(f"jobs: must be a list of at most {MAX_BEATS} beats.")
    now = timezone.now()
    Host.objects.filter(pk=host.pk).update(last_heartbeat_at=now)
    answers = {}
    for n, beat in enumerate(beats):
        if not isinstance(beat, dict) or set(beat) - {"job", "log"}:
            raise RunnerRefused(f"jobs[{n}]: must be {{job, log}}.")
        log = beat.get("log")
        if log is not None and not isinstance(log, str):
            raise RunnerRefused(f"jobs[{n}].log: must be text.")
        try:
            job = job_held(host=host, job_id=beat.get("job"))
        except RunnerRefused as exc:
            if exc.status != 409:
                raise
            answers[str(beat.get("job"))] = {"cancel": True}
            continue
        limits = JobSpec.from_dict(job.spec).sandbox_limits()
        if log is not None and len(log) > limits.log_bytes + LOG_MARGIN:
            raise RunnerRefused(f"jobs[{n}].log: is longer than the job's log limit.")
        answers[str(job.pk)] = {"cancel": KINDS[job.kind].beat(job, log)}
    return {"jobs": answers, "heartbeat_seconds": heartbeat_seconds()}


def upload_authorize(*, host: Host, job_id: object, data: dict) -> dict:
    """Return a URL for one upload of exactly the size and sha256 announced,
    and the headers to send with it (`{url, headers}`)."""
    job = job_held(host=host, job_id=job_id)
    if set(data) != {"name", "size", "sha256"}:
        raise RunnerRefused("An upload is announced as {name, size, sha256}.")
    name, size, sha256 = data["name"], data["size"], data["sha256"]
    spec = JobSpec.from_dict(job.spec)
    if name not in spec.returns or name not in RETURNS:
        raise RunnerRefused(f"name: the job gives back only {', '.join(spec.returns)}.")
    most = min(RETURNS[name], spec.sandbox_limits().work_dir_bytes)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= most:
        raise RunnerRefused(f"size: must be 1 to {most} bytes for {name}.", 413)
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise RunnerRefused("sha256: must be 64 lowercase hex digits.")
    signed = upload_url(job=job, name=name, size=size, sha256=sha256)
    if signed["note"] is not None:
        upload_note(host=host, job_id=job.pk, name=name, note=signed["note"])
    return signed["answer"]


def upload_record(*, host: Host, job_id: int, name: str, size: int, sha256: str):
    """Note a stored upload on the job, which must still be held."""
    upload_note(
        host=host, job_id=job_id, name=name, note={"sha256": sha256, "size": size}
    )


@transaction.atomic
def upload_note(*, host: Host, job_id: int, name: str, note: dict) -> None:
    """Note what is known of the job's upload `name`; the job must still be held."""
    job = job_held(host=host, job_id=job_id, lock=True)
    job.uploads = {**job.uploads, name: note}
    job.save(update_fields=["uploads"])
