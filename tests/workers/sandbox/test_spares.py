"""Spares: a job's sandbox started early, used once, discarded when it does not fit.

The hostile-code tests run in spares too (test_sandbox_hostile.py, "spare" ids).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.workers.sandbox.sandbox_helpers import leftover_cgroups
from workers.sandbox import (
    Bind,
    Outcome,
    SandboxError,
    SandboxLimits,
    Spare,
    SparePool,
)
from workers.sandbox._cgroup import CPU_SHARES_IDLE
from workers.sandbox._cgroup2 import CPU_WEIGHT_IDLE, job_cpu_shares, job_cpu_weight
from workers.sandbox._spare import SPARE_NICE

# Every place a job can write to, or might try: its work dir, the tmpfs mounts,
# HOME, the read-only inputs, and the folders around its own work dir.
PROBE = r"""
import json, os, sys
mode, token = sys.argv[1], sys.argv[2]
places = [os.getcwd(), "/tmp", "/dev/shm", os.environ.get("HOME", "/tmp"), "/data",
          "/job", os.path.dirname(os.getcwd()), "/var/tmp", "/"]
wrote, found = [], []
for place in places:
    if mode == "leave":
        try:
            with open(os.path.join(place, "left-" + token), "w") as out:
                out.write(token)
            wrote.append(place)
        except OSError:
            pass
    else:
        try:
            names = os.listdir(place)
        except OSError:
            continue
        found += [os.path.join(place, n) for n in names if n.startswith("left-")]
print(json.dumps({"wrote": wrote, "found": found}))
"""


def _last_json(log: str) -> dict[str, list[str]]:
    return json.loads(log.strip().splitlines()[-1])


@pytest.fixture
def slot(sandbox_root: Path) -> Callable[[str], Spare]:
    """Return a factory of spares for one slot: fresh dirs, same inputs and uid."""
    data = sandbox_root / "train"
    data.mkdir()
    (data / "train.npz").write_bytes(b"training split only")
    counter = itertools.count()

    def start(mode: str) -> Spare:
        n = next(counter)
        job, work = sandbox_root / f"job-{n}", sandbox_root / f"work-{n}"
        job.mkdir()
        work.mkdir()
        (job / "probe.py").write_text(PROBE)
        (job).chmod(0o755)
        return Spare(
            ["python", "/job/probe.py", mode, f"t{n}"],
            work_dir=work,
            binds=[Bind(job, "/job"), Bind(data, "/data")],
            env={"HOME": "/tmp"},
            warm=("numpy",),
            key="assignment-1",
            owned=(job, work),
        )

    return start


def test_next_job_on_the_slot_sees_nothing_left(
    slot: Callable[[str], Spare], sandbox_root: Path
) -> None:
    """A job writes everywhere it can; the next job in the slot's spare finds none."""
    pool = SparePool()
    pool.refill("assignment-1", lambda: slot("leave"))
    first = pool.take("assignment-1")
    assert first is not None
    # The next spare waits while the first job runs, as it does on a worker.
    pool.refill("assignment-1", lambda: slot("look"))
    left = first.run()
    assert left.outcome is Outcome.OK, left.log
    wrote = _last_json(left.log)["wrote"]
    # It wrote to its work dir and its private tmpfs mounts (a work dir under
    # /tmp has its parents inside the job's own /tmp), never to inputs or host.
    assert {first.work_dir.as_posix(), "/tmp", "/dev/shm"} <= set(wrote), wrote
    assert not {"/data", "/job", "/"} & set(wrote), wrote
    on_host = [p for p in sandbox_root.rglob("left-*") if p.parent != first.work_dir]
    assert on_host == []
    second = pool.take("assignment-1")
    assert second is not None and second.work_dir != first.work_dir
    looked = second.run()
    assert looked.outcome is Outcome.OK, looked.log
    assert _last_json(looked.log)["found"] == []


def test_spare_job_sees_what_a_cold_job_sees(sandbox_root: Path) -> None:
    """Argv, env, cwd and a bare __main__ are the job's own; imports are warm."""
    work = sandbox_root / "work"
    work.mkdir()
    code = (
        "import json, os, sys; print(json.dumps({'argv': sys.argv, 'cwd': os.getcwd(),"
        " 'env': os.environ.get('DOJO_X'), 'numpy': 'numpy' in sys.modules,"
        " 'names': sorted(n for n in globals() if not n.startswith('__'))}))"
    )
    spare = Spare(
        ["python", "-c", code, "a", "b"],
        work_dir=work,
        env={"DOJO_X": "1"},
        warm=("numpy",),
    )
    result = spare.run()
    assert result.outcome is Outcome.OK, result.log
    seen = _last_json(result.log)
    assert seen["argv"] == ["-c", "a", "b"]
    assert seen["cwd"] == work.resolve().as_posix()
    assert seen["env"] == "1" and seen["numpy"] is True
    assert seen["names"] == ["json", "os", "sys"]


def test_spare_for_another_assignment_or_too_old_is_discarded(
    slot: Callable[[str], Spare],
) -> None:
    """take() refuses a spare of another key or past max_age, and kills it."""
    pool = SparePool(max_age=600)
    pool.refill("assignment-1", lambda: slot("look"))
    spare = pool.spare
    assert spare is not None and spare.alive()
    assert pool.take("assignment-2") is None
    assert not spare.alive()
    assert not any(p.exists() for p in spare.owned)
    pool = SparePool(max_age=0.0)
    pool.refill("assignment-1", lambda: slot("look"))
    old = pool.spare
    time.sleep(0.05)
    assert pool.take("assignment-1") is None
    assert old is not None and not old.alive()
    assert leftover_cgroups() == []


def test_dead_spare_is_replaced_and_never_runs_a_job(
    slot: Callable[[str], Spare],
) -> None:
    """A spare killed while waiting is refused, then replaced by keep()."""
    pool = SparePool()
    pool.refill("assignment-1", lambda: slot("look"))
    dead = pool.spare
    assert dead is not None and dead.pid is not None
    os.killpg(dead.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while dead.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(SandboxError, match="died while waiting"):
        dead.run()
    pool.keep()
    assert pool.replaced == 1
    fresh = pool.take("assignment-1")
    assert fresh is not None and fresh is not dead and fresh.alive()
    assert fresh.run().outcome is Outcome.OK
    assert leftover_cgroups() == []


def test_spares_off_keeps_none(slot: Callable[[str], Spare]) -> None:
    """With spares turned off the pool starts nothing and jobs run cold."""
    pool = SparePool(enabled=False)
    pool.refill("assignment-1", lambda: slot("look"))
    assert pool.spare is None
    assert pool.take("assignment-1") is None


def test_spare_refuses_a_command_it_cannot_warm(sandbox_root: Path) -> None:
    """Only Python jobs can be warmed; anything else is a clear error."""
    with pytest.raises(SandboxError, match="only `python"):
        Spare(["/bin/sh", "-c", "true"], work_dir=sandbox_root)


# A worker that makes one waiting spare, says where its cgroups and sandbox are,
# then waits to be SIGKILLed (as the OOM killer or `kill -9` would).
HARD_KILLED_WORKER = r"""
import json, sys, time
from pathlib import Path
from workers.sandbox import Spare
work = Path(sys.argv[1])
spare = Spare(["python", "-c", "pass"], work_dir=work, warm=("numpy",))
launch = spare._supervisor.launch
groups = [str(g) for g in launch.cgroups.groups] if launch.cgroups else []
print(json.dumps({"pid": spare.pid, "groups": groups}), flush=True)
time.sleep(600)
"""


def test_a_hard_killed_workers_spare_dies_with_it_and_its_cgroups_go(
    sandbox_root: Path,
) -> None:
    """No supervisor is left to clean up: bwrap's --die-with-parent takes the
    sandbox down, and the next job of any worker removes the orphaned groups."""
    import subprocess
    import sys

    from workers.sandbox import run

    work = sandbox_root / "orphan"
    work.mkdir()
    repo = Path(__file__).resolve().parents[3]
    worker = subprocess.Popen(
        [sys.executable, "-c", HARD_KILLED_WORKER, str(work)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert worker.stdout is not None
    seen = json.loads(worker.stdout.readline())
    assert seen["groups"], "this host gives every sandbox its own cgroups"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 10
    while Path("/proc", str(seen["pid"])).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path("/proc", str(seen["pid"])).exists(), "the spare outlived it"

    (sandbox_root / "next").mkdir()
    result = run(["python", "-c", "print('next')"], work_dir=sandbox_root / "next")
    assert result.outcome == Outcome.OK, result.log
    assert [g for g in seen["groups"] if Path(g).exists()] == []


def _spare_in(
    root: Path, name: str, prelude: str = "", limits: SandboxLimits | None = None
) -> Spare:
    work = root / name
    work.mkdir()
    code = (
        "import os, time; print(os.getpriority(os.PRIO_PROCESS, 0), os.listdir('.'),"
        " flush=True); time.sleep(1)"
    )
    return Spare(
        ["python", "-c", code],
        work_dir=work,
        warm=(),
        prelude=prelude,
        key="k",
        limits=limits or SandboxLimits(),
    )


def _cpu_share(spare: Spare) -> int | None:
    """Return the CPU share of the spare's cgroup (v1 cpu.shares, v2 cpu.weight),
    or None once the job's group is gone (the last log comes after it)."""
    groups = spare._supervisor.launch.cgroups
    assert groups is not None, "these tests run with cgroups"
    places = [groups.cpu, getattr(groups, "cpuacct", None)]
    for group in filter(None, places):
        for name in ("cpu.shares", "cpu.weight"):
            if (group / name).exists():
                return int((group / name).read_text())
    return None


def _until_ready(spare: Spare) -> None:
    """Wait until the spare's waiter made its marker (a liveness bound only)."""
    for _ in range(600):
        if spare.ready():
            return
        time.sleep(0.1)
    raise AssertionError("the spare never became ready")


def test_a_spare_warms_at_a_lower_priority_and_its_job_gets_it_back(
    sandbox_root: Path,
) -> None:
    """Warming yields the CPU to jobs; the job it runs is not slowed for it."""
    own = os.getpriority(os.PRIO_PROCESS, 0)
    # With a CPU quota (DOJO_SANDBOX_CPUS) the job has a cpu group of its own.
    spare = _spare_in(sandbox_root, "work", limits=SandboxLimits(cpus=1))
    shares: list[int] = []
    try:
        _until_ready(spare)
        assert os.getpriority(os.PRIO_PROCESS, spare.pid) == own + SPARE_NICE
        # Nice counts only inside one cgroup, and each job has its own: the
        # spare's group takes the least CPU share, the job's a job's own.
        shares.append(_cpu_share(spare))
        result = spare.run(
            on_log=lambda _log: shares.append(_cpu_share(spare)), log_interval=0.1
        )
    finally:
        spare.discard()
    assert result.outcome == Outcome.OK, result.log
    assert shares[0] in (CPU_SHARES_IDLE, CPU_WEIGHT_IDLE), shares
    during = {share for share in shares[1:] if share is not None}
    assert during and during <= {job_cpu_shares(), job_cpu_weight()}, shares
    # Nor does the job find the spare's ready marker in its work dir.
    assert result.log.strip() == f"{own} []", result.log


def test_a_spare_still_warming_can_be_abandoned_and_a_warm_one_is_kept(
    sandbox_root: Path,
) -> None:
    """``discard_warming`` kills a spare whose imports still run, never a warm one."""
    warming = SparePool()
    warming.refill("k", lambda: _spare_in(sandbox_root, "slow", "while 1: pass"))
    spare = warming.spare
    assert spare is not None and spare.alive() and not spare.ready()
    assert warming.discard_warming()
    assert not spare.alive() and warming.spare is None

    warm = SparePool()
    warm.refill("k", lambda: _spare_in(sandbox_root, "quick"))
    ready = warm.spare
    assert ready is not None
    _until_ready(ready)
    assert not warm.discard_warming()
    assert warm.spare is ready and ready.alive()
    warm.discard()
