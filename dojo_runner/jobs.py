"""Run one claimed job: fetch its files, run its spec in the sandbox, report.

Every file is checked against the sha256 and size the site announced before
it is used; the training split is unpacked once per digest into the cache and
bound read-only at its mount. The job runs under the spec's limits in
`workers.sandbox`, exactly as on a site worker; what it gives back is copied
out of the sandbox bounded and link-free, uploaded with its exact size and
sha256 (each try with a fresh URL), and the result is read through the spec's
own validation before it is sent. A job takes its slot's warm spare when one
was started for exactly its sandbox (`dojo_runner.spares`).

A network cut after the training (mid-upload, or while the result is sent)
is waited out: the upload is tried again with a fresh URL and the result sent
again, until the site answers, says the job is no longer this host's (it was
handed back past the heartbeat grace and runs elsewhere), or PATIENCE_SECONDS
pass. The site keeps an upload only whole, and applies one result per job, so
a try cut midway leaves nothing and a repeated one changes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dojo_runner.client import Site, SiteError
from dojo_runner.handout import checked_size, data_refs, unpack
from dojo_runner.spares import (
    JobPlan,
    RunnerSpares,
    SpareSettings,
    job_folders,
    plan_key,
)
from workers import sandbox
from workers.jobspec import (
    KIND_ENV,
    Artifact,
    JobSpec,
    job_env,
    job_result_from_sandbox,
)

logger = logging.getLogger(__name__)

# How long a trained job's upload and result wait out a site out of reach.
PATIENCE_SECONDS = 600.0
# The pause between tries doubles from the first to the last.
PAUSE_SECONDS = (1.0, 10.0)


@dataclass
class Running:
    """One job in flight, as the heartbeat sees it."""

    job: int
    log: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class JobGone(Exception):
    """The site says the job is no longer this host's: stop it, send nothing."""


def patiently(running: Running, what: str, call: Callable[[], object]) -> object:
    """Return `call()`, trying again while the site is out of reach.

    Gives up (raising the last error) once the job is cancelled (its beat was
    answered with cancel) or PATIENCE_SECONDS have passed.
    """
    deadline = time.monotonic() + PATIENCE_SECONDS
    pause = PAUSE_SECONDS[0]
    while True:
        try:
            return call()
        except SiteError as exc:
            if running.cancel.is_set():
                raise JobGone(f"job {running.job} was cancelled: {exc}") from None
            if not exc.unreachable or time.monotonic() + pause > deadline:
                raise
            logger.warning(
                "Job %s: %s failed (%s); trying again in %.0f s",
                running.job,
                what,
                exc,
                pause,
            )
        if running.cancel.wait(pause):
            raise JobGone(f"job {running.job} was cancelled while {what} waited")
        pause = min(pause * 2, PAUSE_SECONDS[1])


class JobRunner:
    """Runs claimed jobs on this host, in the sandbox, one per slot."""

    def __init__(
        self,
        *,
        site: Site,
        root: Path,
        plan: sandbox.HostPlan,
        backend: str,
        spares: SpareSettings = SpareSettings(),  # noqa: B008 (frozen)
    ) -> None:
        self.site = site
        self.backend = backend
        self.root = root
        self.plan = plan
        self.cache = root / "cache"
        self.work = root / "work"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        self._cache_lock = threading.Lock()
        self.spares = RunnerSpares(settings=spares, work=self.work)

    def data_folder(self, ref: dict) -> Path:
        """Return the unpacked split for `ref`, downloading it once per sha256."""
        sha256 = ref["sha256"]
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise SiteError("a data sha256 is not one")
        folder = self.cache / sha256
        with self._cache_lock:
            if folder.is_dir():
                return folder
            archive = self.cache / f"{sha256}.tar"
            self.site.download(
                ref["url"], archive, sha256=sha256, size=checked_size(ref["size"])
            )
            part = self.cache / f".{sha256}.{uuid.uuid4().hex}"
            part.mkdir()
            unpack(archive, part)
            archive.unlink()
            part.chmod(0o755)
            part.replace(folder)
            return folder

    def run(self, handout: dict, slot: int, running: Running) -> None:
        """Run one job and send its result (or let the site hand it back).

        The slot's spare runs it if one was started for exactly this job's
        sandbox and is warm; then this job's sandbox is the slot's next spare's.
        """
        spec = JobSpec.from_dict(handout["spec"])
        # Only a train-gpu job is placed on the card: a CPU queue's job (or a
        # check's) runs off it, as on the site's GPU worker.
        gpu = handout.get("gpu") is True
        if gpu and self.plan.gpu_device < 0:
            # It would train on the CPU: never run it; the site hands it back.
            raise SiteError(f"job {running.job} is a GPU job; this host has no --gpu")
        mounts = {
            mount: self.data_folder(ref)
            for mount, ref in data_refs(spec, handout["data"]).items()
        }
        plan = self._plan(spec, mounts, slot, gpu=gpu)
        key = plan_key(plan)
        spare = self.spares.take(slot, key)
        folder = self.work / f"job-{running.job}-{uuid.uuid4().hex[:8]}"
        try:
            self._run(spec, handout, folder, plan, spare, running)
        finally:
            if spare is not None:
                # Killed if never handed the job (its download failed, say).
                spare.discard()
            # A work dir is a sized tmpfs after the run: remove_tree detaches it.
            for path in (folder, *(spare.owned if spare is not None else ())):
                try:
                    sandbox.remove_tree(path)
                except sandbox.CleanupError:
                    logger.exception("Could not remove %s", path)
        self.spares.want(slot, key, plan)

    def _plan(
        self, spec: JobSpec, mounts: dict[str, Path], slot: int, *, gpu: bool
    ) -> JobPlan:
        """Return how the job runs in a folder: its argv and sandbox arguments."""
        place = self.plan.place(slot, gpu=gpu)
        limits = host_limits(spec)

        def plan(folder: Path) -> tuple[list[str], dict]:
            job_dir, work = folder / "job", folder / "run"
            binds = [sandbox.Bind(job_dir, "/job")]
            binds += [sandbox.Bind(path, mount) for mount, path in mounts.items()]
            env = {
                **job_env(keras_backend=spec.keras_backend),
                **KIND_ENV.get(spec.kind, {}),
                "DOJO_DATA_DIR": "/data",
                "DOJO_OUTPUT_DIR": str(work / "output"),
                "DOJO_DEVICE_REPORT": str(work / "device.json"),
                **place.env,
            }
            return sandbox.runner_argv("/job/submission.py"), {
                "work_dir": work,
                "binds": [*binds, *place.binds],
                "env": env,
                "limits": limits,
                "backend": self.backend,
                "devices": place.devices,
                "chdir": str(work),
                "uid": place.uid,
            }

        return plan

    def _run(
        self,
        spec: JobSpec,
        handout: dict,
        folder: Path,
        plan: JobPlan,
        spare: sandbox.Spare | None,
        running: Running,
    ) -> None:
        folder.mkdir()
        job_dir, work = job_folders(folder)
        script = handout["script"]
        self.site.download(
            script["url"],
            job_dir / "submission.py",
            sha256=spec.script_sha256,
            size=checked_size(script["size"]),
        )
        (job_dir / "submission.py").chmod(0o644)

        def on_log(log: str) -> None:
            running.log = log

        watch = {
            "on_log": on_log,
            "log_interval": 1.0,
            "should_cancel": running.cancel.is_set,
        }
        result = None
        if spare is not None:
            # The spare's own folder: the job sees its sandbox as planned.
            spare_job = spare.owned[0] / "job" / "submission.py"
            shutil.copyfile(job_dir / "submission.py", spare_job)
            spare_job.chmod(0o644)
            try:
                result = spare.run(**watch)
                work = spare.owned[0] / "run"
                folder = spare.owned[0]
            except sandbox.SandboxError as exc:
                logger.warning(
                    "Job %s: its spare was gone (%s); cold", running.job, exc
                )
                spare = None
        if result is None:
            argv, kwargs = plan(folder)
            result = sandbox.run(argv, **kwargs, **watch)
        warm = "warm spare; " if spare is not None else ""
        try:
            self._send(spec, running, result, work, folder / "out", warm)
        except JobGone as exc:
            logger.warning("Job %s: not sent (%s)", running.job, exc)

    def _send(
        self,
        spec: JobSpec,
        running: Running,
        result: sandbox.SandboxResult,
        work: Path,
        out: Path,
        warm: str = "",
    ) -> None:
        """Upload what the job gave back, then send its result."""
        job = running.job
        artifacts = []
        if result.outcome == sandbox.Outcome.OK:
            artifacts = self._upload(spec, running, work / "output", out)
        device = sandbox.read_device_report(work / "device.json")
        report = job_result_from_sandbox(
            spec=spec, result=result, artifacts=tuple(artifacts)
        )
        body = {
            "result": report.to_dict(),
            "isolation": (warm + self.plan.describe())[:160],
            "device": None
            if device is None
            else {
                "backend": device.backend,
                "on_gpu": device.on_gpu,
                "name": device.name,
            },
        }
        status, answer = patiently(
            running,
            "sending the result",
            lambda: self.site.call(f"/runner/v1/jobs/{job}/result", body),
        )
        if status != 200:
            logger.warning("Job %s: result refused (%s): %s", job, status, answer)
        else:
            logger.info("Job %s: %s", job, answer.get("verdict"))

    def _upload(
        self, spec: JobSpec, running: Running, output: Path, out: Path
    ) -> list[Artifact]:
        """Copy out what the spec asks back; upload each whole; return them."""
        out.mkdir()
        limit = int(spec.sandbox_limits().work_dir_bytes)
        artifacts = []
        for name in spec.returns:
            if not sandbox.copy_out(output, name, out / name, max_bytes=limit):
                continue
            path = out / name
            size, sha256 = path.stat().st_size, _sha256(path)
            if size == 0:
                continue
            artifact = Artifact(name=name, sha256=sha256, size_bytes=size)
            if patiently(
                running,
                f"uploading {name}",
                functools.partial(self._upload_one, running.job, path, artifact),
            ):
                artifacts.append(artifact)
        return artifacts

    def _upload_one(self, job: int, path: Path, artifact: Artifact) -> bool:
        """Upload one file with a URL made for this try; False if refused."""
        logger.info("Job %s: asking for a new URL to upload %s", job, artifact.name)
        status, answer = self.site.call(
            f"/runner/v1/jobs/{job}/uploads",
            {
                "name": artifact.name,
                "size": artifact.size_bytes,
                "sha256": artifact.sha256,
            },
        )
        if status == 409:
            raise JobGone(answer.get("error", "the site refused the job"))
        if status != 200:
            # Too large for the site, say: the job goes back without it.
            logger.warning("Job %s: %s refused: %s", job, artifact.name, answer)
            return False
        try:
            self.site.upload(
                answer["url"], path, artifact.size_bytes, answer.get("headers") or {}
            )
        except SiteError as exc:
            if exc.status == 409:
                raise JobGone(str(exc)) from None
            if exc.status in (403, 408):
                # The URL expired on a slow link, or the site gave up on a
                # body that stalled: the next try makes a new one.
                raise SiteError(str(exc)) from None
            raise
        return True


def host_limits(spec) -> sandbox.SandboxLimits:
    """Return the spec's limits with this host's CPU quota.

    The site sends the quota its own host would give (DOJO_SANDBOX_CPUS), which
    says nothing of this machine's cores: a job here may use all of them but
    one, at least one, as the site's default does on its own host.
    """
    limits = spec.sandbox_limits()
    return dataclasses.replace(limits, cpus=max(1.0, (os.cpu_count() or 1) - 1.0))
