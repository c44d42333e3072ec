"""`python -m dojo_runner --site URL --join TOKEN`: join a site and train its jobs.

The first start exchanges the join token for a host credential, kept in
`<dir>/credential` (mode 600) so a restart needs no new token. Then one
thread per slot long-polls for a job and runs it, and one thread heartbeats
every job in flight with its log; a job the site says to cancel is stopped.
After a job, a slot first asks for work without waiting: only when the site
has none does it start its warm spare (`dojo_runner.spares`), then wait.

`--gpu N` makes a GPU host as DOJO_GPU_DEVICE makes the site's GPU worker: the
same `workers.sandbox.host_prepare` (a memory cgroup, the card's device
nodes, MPS with each slot's pinned memory share, and a probe inside the
sandbox that must see the card) before the join token is used; it refuses to
start, saying what to fix, where that fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import random
import socket
import subprocess
import sys
import threading
from pathlib import Path

from dojo_runner import VERSION
from dojo_runner.client import Site, SiteError
from dojo_runner.jobs import JobRunner, Running
from dojo_runner.spares import SpareSettings
from workers import sandbox

logger = logging.getLogger("dojo_runner")

# The longest the site holds a request for work (DOJO_RUNNER_POLL_SECONDS is
# at most 60), with room for the answer.
LONG_POLL_SECONDS = 75.0
# The least and the longest a runner waits when the site says to ask for work
# later: never a loop of requests, whatever it says.
RETRY_AFTER_LEAST, RETRY_AFTER_TOP = 1.0, 60.0
# How often the site may ask for heartbeats: bounds on what it says.
BEAT_SECONDS = (0.5, 60.0)
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
# The most GPU memory a slot's share may name (MB): past any card made.
GPU_MEMORY_MB_TOP = 1 << 20


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dojo-runner", description=__doc__)
    parser.add_argument("--site", required=True, help="the site's URL")
    parser.add_argument("--join", default="", help="a join token from the hosts page")
    parser.add_argument("--name", default=socket.gethostname()[:63])
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument(
        "--dir", type=Path, default=Path("var/runner"), help="cache and work folder"
    )
    parser.add_argument("--sandbox", choices=("bwrap", "local"), default="bwrap")
    parser.add_argument(
        "--jobs", type=int, default=0, help="stop after this many jobs (0: never)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds a request to the site may go without an answer before it "
        "counts as cut off and is tried again",
    )
    parser.add_argument(
        "--spares",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after a job, when the site has no other, start the slot's next "
        "sandbox ahead with Keras imported (about 700 MB each)",
    )
    parser.add_argument(
        "--spare-max-age",
        type=float,
        default=SpareSettings.max_age_seconds,
        help="seconds an unused spare may wait before it is replaced",
    )
    parser.add_argument(
        "--gpu",
        type=int,
        default=-1,
        metavar="N",
        help="train on GPU N (as /dev/nvidiaN) in MPS slots, as the site's "
        "DOJO_GPU_DEVICE worker does; -1: no GPU",
    )
    parser.add_argument(
        "--gpu-memory-mb",
        type=int,
        default=0,
        help="each slot's GPU memory share under MPS (0: 80 GiB / slots), as "
        "DOJO_GPU_MEMORY_MB",
    )
    parser.add_argument(
        "--keras-backend",
        choices=KERAS_BACKENDS,
        default=os.environ.get("KERAS_BACKEND")
        if os.environ.get("KERAS_BACKEND") in KERAS_BACKENDS
        else "tensorflow",
        help="the backend the --gpu probe must see the card with: the site's "
        "DOJO_KERAS_BACKEND (default: $KERAS_BACKEND, else tensorflow)",
    )
    args = parser.parse_args(argv)
    if not -1 <= args.gpu <= 63:
        parser.error("--gpu must be a card's number, 0 to 63 (or -1: none)")
    if not 0 <= args.gpu_memory_mb <= GPU_MEMORY_MB_TOP:
        parser.error(f"--gpu-memory-mb must be between 0 and {GPU_MEMORY_MB_TOP}")
    if args.gpu_memory_mb and args.gpu < 0:
        parser.error("--gpu-memory-mb is a GPU slot's share: give --gpu N too")
    if not 10 <= args.spare_max_age <= 86400:
        parser.error("--spare-max-age must be between 10 and 86400 seconds")
    if not 1 <= args.slots <= 64:
        parser.error("--slots must be between 1 and 64")
    if not 1 <= args.timeout <= 3600:
        parser.error("--timeout must be between 1 and 3600 seconds")
    # The sandbox binds folders by absolute path.
    args.dir = args.dir.resolve()
    return args


def host_facts(args: argparse.Namespace, plan: sandbox.HostPlan) -> dict:
    """Return what this host says of itself: sandbox, Keras backends, CPUs,
    memory, and its GPU as `host_prepare` found it.

    The site trains here only with a Keras backend this host has (a job that
    cannot import it would fail as if the participant's code were at fault).
    A GPU host names only the backend its probe saw the card with: the site
    sends train-gpu jobs only to a host whose GPU works with its backend.
    """
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    backends = [
        name for name in KERAS_BACKENDS if importlib.util.find_spec(name) is not None
    ]
    gpus = []
    if plan.gpu_device >= 0:
        backends = [args.keras_backend]
        gpus.append(
            {
                "index": plan.gpu_device,
                "name": plan.gpu_name,
                "memory_mb": gpu_memory_mb(plan.gpu_device),
                "mps": plan.mps is not None,
                "slot_memory_mb": plan.gpu_memory_mb if plan.mps else None,
            }
        )
    return {
        "sandbox": args.sandbox,
        "keras_backends": backends,
        "cpus": os.cpu_count() or 1,
        "memory_bytes": memory,
        "gpus": gpus,
        "spares": _spare_settings(args).describe(),
    }


def gpu_memory_mb(device: int) -> int | None:
    """Return card `device`'s memory in MB as nvidia-smi says, or None.

    nvidia-smi comes with the driver; where it is missing or says nothing
    useful, the site shows the card without its memory.
    """
    try:
        done = subprocess.run(
            [
                "nvidia-smi",
                f"--id={device}",
                "--query-gpu=memory.total",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    said = done.stdout.strip()
    if done.returncode != 0 or not said.isdigit():
        return None
    return int(said) if 0 < int(said) <= GPU_MEMORY_MB_TOP else None


def host_plan(args: argparse.Namespace) -> sandbox.HostPlan:
    """Check the sandbox and make the host plan, as the site's workers do.

    With `--gpu` it is the GPU worker's: refused (SandboxUnavailable, saying
    what to fix) without the card, a memory cgroup, or a probe that sees it.
    """
    if args.sandbox == "bwrap":
        sandbox.check_backend("bwrap")
    return sandbox.host_prepare(
        backend=args.sandbox,
        slots=args.slots,
        gpu_device=args.gpu,
        gpu_memory_mb=args.gpu_memory_mb or None,
        keras_backend=args.keras_backend,
        probe=args.gpu >= 0,
        device_option="--gpu",
        backend_option="--keras-backend",
    )


def _spare_settings(args: argparse.Namespace) -> SpareSettings:
    return SpareSettings(enabled=args.spares, max_age_seconds=args.spare_max_age)


def _credential(site: Site, args: argparse.Namespace, facts: dict) -> str:
    """Return this host's credential, registering with the join token once.

    The site gives train-gpu jobs by the GPUs a host named when it joined:
    a restart that names others (a runner joined without --gpu, restarted
    with it, or the reverse) is refused, not trusted to the old facts.
    """
    stored = args.dir / "credential"
    joined = args.dir / "joined-gpus.json"
    gpus = [gpu["index"] for gpu in facts["gpus"]]
    if stored.is_file():
        said = json.loads(joined.read_text()) if joined.is_file() else []
        if said != gpus:
            raise SiteError(
                f"This host joined with GPUs {said or 'none'} and now has "
                f"{gpus or 'none'} (--gpu): the site would send it the wrong "
                f"jobs. Start it as it joined, or remove {stored} and join "
                "again with a new token from the hosts page."
            )
        return stored.read_text().strip()
    if not args.join:
        raise SiteError("No credential yet: start once with --join TOKEN.")
    status, answer = site.call(
        "/runner/v1/register",
        {
            "token": args.join,
            "name": args.name,
            "slots": args.slots,
            "version": VERSION,
            "facts": facts,
        },
    )
    if status != 201:
        raise SiteError(f"Registration refused ({status}): {answer.get('error')}")
    args.dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(answer["credential"])
    joined.write_text(json.dumps(gpus))
    logger.info(
        "Joined as %s (host %s), taking %s",
        answer["name"],
        answer["host"],
        ", ".join(map(str, answer.get("queues") or [])) or "no queue",
    )
    return answer["credential"]


def retry_after(said: object) -> float:
    """Return how long to wait before asking for work again, from what the site
    said: a number of seconds from one to a minute, with up to a fifth more at
    random so runners turned away together do not come back together."""
    if isinstance(said, bool) or not isinstance(said, int | float):
        return RETRY_AFTER_TOP
    try:
        seconds = float(said)
    except OverflowError:  # an integer past any float
        return RETRY_AFTER_TOP
    if seconds != seconds:  # NaN
        return RETRY_AFTER_TOP
    seconds = min(max(seconds, RETRY_AFTER_LEAST), RETRY_AFTER_TOP)
    return seconds * (1 + random.random() / 5)


class Runner:
    def __init__(self, site: Site, jobs: JobRunner, args: argparse.Namespace) -> None:
        self.site, self.jobs, self.args = site, jobs, args
        self.running: dict[int, Running] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.done = 0
        self.beat_seconds = 3.0
        # The site holds a request for work open up to a minute (a long poll).
        self.claim_timeout = max(site.timeout, LONG_POLL_SECONDS)

    def heartbeat_forever(self) -> None:
        while not self.stop.wait(self.beat_seconds):
            with self.lock:
                beats = [{"job": r.job, "log": r.log} for r in self.running.values()]
            try:
                status, answer = self.site.call("/runner/v1/heartbeat", {"jobs": beats})
            except SiteError as exc:
                logger.warning("Heartbeat missed: %s", exc)
                continue
            if status in (401, 403):
                logger.error("The site refused this host: %s", answer.get("error"))
                self.cancel_all()
                self.stop.set()
                return
            said = answer.get("jobs")
            for job, what in (said if isinstance(said, dict) else {}).items():
                with self.lock:
                    running = self.running.get(int(job)) if job.isdigit() else None
                if (
                    running is not None
                    and isinstance(what, dict)
                    and what.get("cancel")
                ):
                    running.cancel.set()

    def cancel_all(self) -> None:
        with self.lock:
            for running in self.running.values():
                running.cancel.set()

    def slot_forever(self, slot: int) -> None:
        may_ask_quickly = True
        while not self.stop.is_set():
            # A spare is wanted (after a job) or gone (aged, abandoned): ask
            # without waiting first, and start it only if the site has no job.
            # Never twice in a row: a spare that cannot start (or dies at
            # once) is tried again after a long poll, not in a busy loop.
            quick = may_ask_quickly and self.jobs.spares.due(slot)
            may_ask_quickly = not quick
            try:
                status, answer = self.site.call(
                    "/runner/v1/jobs/request",
                    {"wait": False} if quick else {},
                    timeout=self.claim_timeout,
                )
            except SiteError as exc:
                logger.warning("Could not ask for work: %s", exc)
                self.stop.wait(5)
                continue
            if status in (401, 403):
                logger.error("The site refused this host: %s", answer.get("error"))
                if status == 401:
                    logger.error(
                        "Remove %s and join again with a new token from the "
                        "hosts page.",
                        self.args.dir / "credential",
                    )
                self.stop.set()
                return
            if status == 200 and "retry_after" in answer:
                # The site may hold only a few requests for work open.
                self.stop.wait(retry_after(answer["retry_after"]))
                continue
            if status == 204 and quick:
                self.jobs.spares.keep(slot)
            if status != 201:
                if status != 204:
                    logger.warning("Asking for work: %s %s", status, answer)
                    self.stop.wait(5)
                continue
            job = answer.get("job")
            if isinstance(job, bool) or not isinstance(job, int) or job < 1:
                logger.warning("The site handed out no job number: %r", job)
                self.stop.wait(5)
                continue
            self.beat_seconds = _beat_seconds(answer.get("heartbeat_seconds"))
            running = Running(job=job)
            with self.lock:
                self.running[running.job] = running
            logger.info("Job %s claimed in slot %s", running.job, slot)
            may_ask_quickly = True
            try:
                self.jobs.run(answer, slot, running)
            except Exception:
                # The site hands the job back when its heartbeats stop.
                logger.exception("Job %s failed on this host", running.job)
            finally:
                with self.lock:
                    del self.running[running.job]
                    self.done += 1
                    if self.args.jobs and self.done >= self.args.jobs:
                        self.stop.set()


def _beat_seconds(said: object) -> float:
    """Return how often to beat, as the site says, within BEAT_SECONDS."""
    if isinstance(said, bool) or not isinstance(said, int | float):
        return 3.0
    try:
        seconds = float(said)
    except OverflowError:  # an integer past any float
        return BEAT_SECONDS[1]
    if not math.isfinite(seconds):
        return 3.0
    return min(max(seconds, BEAT_SECONDS[0]), BEAT_SECONDS[1])


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    args = _arguments(argv)
    plan = None
    try:
        # Before the join token is used: a host that cannot run its jobs
        # (no card, say) spends none.
        plan = host_plan(args)
        site = Site(args.site, timeout=args.timeout)
        site.credential = _credential(site, args, host_facts(args, plan))
    except (SiteError, sandbox.SandboxError) as exc:
        if plan is not None:
            plan.close()
        print(f"dojo-runner: {exc}", file=sys.stderr)
        return 2
    for notice in plan.notices:
        logger.warning("Sandbox: %s", notice)
    logger.info("Sandbox: %s", plan.describe())
    jobs = JobRunner(
        site=site,
        root=args.dir,
        plan=plan,
        backend=args.sandbox,
        spares=_spare_settings(args),
    )
    runner = Runner(site, jobs, args)
    threads = [threading.Thread(target=runner.heartbeat_forever, daemon=True)]
    threads += [
        threading.Thread(target=runner.slot_forever, args=(slot,), daemon=True)
        for slot in range(args.slots)
    ]
    for thread in threads:
        thread.start()
    try:
        while not runner.stop.wait(1):
            pass
    except KeyboardInterrupt:
        runner.cancel_all()
        runner.stop.set()
    for thread in threads[1:]:
        thread.join(timeout=30)
    jobs.spares.close()
    plan.close()
    logger.info("Stopped after %s job(s)", runner.done)
    print(json.dumps({"jobs": runner.done}))
    return 0
