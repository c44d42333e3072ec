"""Local uploads no job needs any more are swept with the jobs' own sweep."""

import hashlib
import os
import time
from pathlib import Path

from runners.files import upload_dir
from runners.hosts import host_revoke
from runners.models import Host, HostJob
from runners.sweep import UPLOAD_SWEEP_GRACE_SECONDS, runner_uploads_sweep
from submissions.services.sweep import work_dirs_sweep
from tests.runners.conftest import claim
from tests.runners.conftest import result_body as _result

BODY = b"not really a model"
MODEL = {
    "name": "model.keras",
    "sha256": hashlib.sha256(BODY).hexdigest(),
    "size_bytes": len(BODY),
}


def _upload(host, job: int) -> Path:
    """Upload the model through the API; return the job's upload folder."""
    announce = {"name": "model.keras", "size": len(BODY), "sha256": MODEL["sha256"]}
    url = host.post(f"/runner/v1/jobs/{job}/uploads", announce).json()["url"]
    assert host.put(url, BODY).status_code == 201
    folder = upload_dir(HostJob.objects.get(pk=job))
    assert (folder / "model.keras").is_file()
    return folder


def _age(path: Path, seconds: float = UPLOAD_SWEEP_GRACE_SECONDS + 60) -> None:
    """Make `path` and everything under it last touched `seconds` ago."""
    then = time.time() - seconds
    for parent, dirs, names in os.walk(path, topdown=False):
        for name in dirs + names:
            os.utime(os.path.join(parent, name), (then, then))
    os.utime(path, (then, then))


def test_a_held_jobs_upload_is_kept_however_old_and_only_stale_parts_go(host, queued):
    """The host still holds the job: its upload stays; a `.part` no request
    wrote to within the grace goes, one written now stays."""
    job = claim(host)["job"]
    folder = _upload(host, job)
    _age(folder)
    stale = folder / ".model.keras.dead.part"
    stale.write_bytes(b"half")
    _age(stale)
    streaming = folder / ".model.keras.live.part"
    streaming.write_bytes(b"half")

    counts = runner_uploads_sweep()

    assert (folder / "model.keras").read_bytes() == BODY
    assert streaming.exists() and not stale.exists()
    assert counts == {"runner_uploads": 0, "runner_upload_parts": 1}


def test_an_upload_waiting_for_the_sites_worker_is_kept(host, queued):
    """After the result the host holds nothing, but the model waits for the
    evaluation's worker (`pending`): it stays, however old."""
    job = claim(host)["job"]
    folder = _upload(host, job)
    done = host.post(
        f"/runner/v1/jobs/{job}/result",
        {"result": _result(job, ending="ok", exit_code=0, artifacts=[MODEL])},
    )
    assert done.json()["verdict"] == "trained", done.content
    assert HostJob.objects.get(pk=job).pending is not None
    _age(folder)

    assert runner_uploads_sweep()["runner_uploads"] == 0
    assert (folder / "model.keras").read_bytes() == BODY


def test_a_handed_back_jobs_upload_is_swept_once_past_the_grace(host, queued):
    """Handed back between its upload and its result (here its host was
    revoked), nothing takes the upload: it goes once untouched for the grace,
    never before."""
    job = claim(host)["job"]
    folder = _upload(host, job)
    assert host_revoke(host=Host.objects.get()) == 1

    assert runner_uploads_sweep()["runner_uploads"] == 0
    assert (folder / "model.keras").exists()
    _age(folder)
    assert runner_uploads_sweep()["runner_uploads"] == 1
    assert not folder.exists()


def test_a_cancelled_jobs_upload_is_swept_once_past_the_grace(host, queued, settings):
    """Cancelled after its upload, its runner gone quiet before any result: the
    reconciler ends it cancelled, and what it uploaded goes."""
    import datetime

    from django.utils import timezone

    from jobs.reconcile import jobs_reconcile
    from submissions.models import Run, Status
    from submissions.services.lifecycle import submission_cancel

    job = claim(host)["job"]
    folder = _upload(host, job)
    submission_cancel(submission=queued)
    settings.DOJO_HEARTBEAT_GRACE_SECONDS = 60
    stale = timezone.now() - datetime.timedelta(seconds=61)
    Run.objects.filter(host_job__pk=job).update(heartbeat_at=stale)
    assert jobs_reconcile()["cancelled"] == 1
    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED

    assert runner_uploads_sweep()["runner_uploads"] == 0

    _age(folder)
    assert runner_uploads_sweep()["runner_uploads"] == 1
    assert not folder.exists()


def test_an_upload_folder_whose_job_is_gone_is_swept_with_the_jobs_sweep(db, settings):
    """No HostJob of that number (its submission deleted, say): the folder goes
    once past the grace, through the jobs' own periodic sweep."""
    root = Path(settings.DOJO_RUNNER_UPLOAD_ROOT)
    old, fresh = root / "424242", root / "434343"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "model.keras").write_bytes(BODY)
    _age(old)

    counts = work_dirs_sweep()

    assert not old.exists() and (fresh / "model.keras").exists()
    assert counts["runner_uploads"] == 1
