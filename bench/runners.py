"""Runners: the class burst with every training on runner hosts, one host then two.

The burst of bench/burst.py (100 participants submit 3 times each at random
moments within a minute; here about a tenth train the MLP reference, the rest
stop at once) on the same site (gunicorn per gunicorn.conf.py, bin/dojo-run's
workers with warm spares on, as users run them), except that trainings go to
runner hosts only (DOJO_RUNNER_QUEUES=train-cpu,train-gpu): the site's workers
still grade. Each runner joins as a user joins one: an instructor makes a join
command on the workshop's hosts page, and ``bin/dojo-runner`` runs it as a
separate process whose environment holds no DATABASE_URL, REDIS_URL, settings
or secret. Each runner, with every sandbox it starts, is held by a cgroup to
half a core (``workers.sandbox.cpu_share``: v1 cpu.cfs_quota_us or v2 cpu.max,
the code that gives jobs their DOJO_SANDBOX_CPUS quota), so on a 2-core
machine the site keeps a core of its own. The pass runs with one runner, then
again on a fresh database with two.

Prints, for each pass: the burst's uploads and answers as burst.py does, the
leaderboard and dashboard p95 during the uploads and while the jobs run on
the runners (until every submission is final; target under 300 ms), the
training jobs the runners finished per minute (first claim to last result) and
the submissions that became final per minute, and the CPU each runner used
(its cgroup's own count: it should be no more than half a core). Then the
ratios of two runners against one (target at least 1.8x). Prints every
setting it changes (and those the test settings it runs under change from
what users run), the object store the runners' files went through
(DOJO_OBJECT_STORE, and its endpoint when s3), and, with each pass's figures,
the CPU count and the load average at the pass's start and end: a figure from
a shared machine can then be judged. Exits 1 when a submission is lost or
not final, a training ran off the runners, an evaluation ran on one, or the
site answered 5xx; the timing targets are printed, not enforced.

    .venv/bin/python bench/runners.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/b24 \\
      REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/runners.py
    .venv/bin/python bench/runners.py --quick   # minutes: same path, tiny class
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _burst import (
    TARGET_P95,
    Watcher,
    burst_plan,
    instructor_cookie,
    print_finals,
    print_page_p95,
    print_uploads,
    rest_p95,
    send,
    start_workers,
    wait_final,
    watched_pages,
    web_description,
)
from _site import ROOT, enrolled_participants, free_port, start_web, test_database

RUNNER_QUEUES = "train-cpu,train-gpu"
RUNNER_CPUS = 0.5
TARGET_RATIO = 1.8
JOIN_COMMAND = re.compile(r"bin/dojo-runner --site (\S+) --join (dojoj_[\w-]+)")
# What a runner's process sees of this machine's environment: nothing of the site.
RUNNER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
SITE_ONLY = ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE")
# Settings the test settings change that _settings_said prints on lines of
# their own (the workers get spares from start_workers, as users run them).
SAID_APART = {
    "DOJO_SPARES",
    "DOJO_CHECK_SPARES",
    "DOJO_DATASET_TRAIN_PER_CLASS",
    "DOJO_DATASET_TEST_PER_CLASS",
}


@dataclass
class Pass:
    """What one pass measured."""

    hosts: int
    runner_jobs_per_minute: float
    final_per_minute: float
    leaderboard_p95_jobs: float | None
    problems: list[str]
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]


def _load(load: tuple[float, float, float] | None = None) -> str:
    """Return the load average (1, 5, 15 minutes) and the CPUs it is out of."""
    one, five, fifteen = os.getloadavg() if load is None else load
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def _object_store() -> str:
    """Say which store the runners' files went through, and where when s3."""
    from django.conf import settings

    if settings.DOJO_OBJECT_STORE != "s3":
        return (
            f"DOJO_OBJECT_STORE={settings.DOJO_OBJECT_STORE} (the site's disk "
            "behind signed views)"
        )
    public = settings.DOJO_S3_PUBLIC_URL
    return (
        "DOJO_OBJECT_STORE=s3 at DOJO_S3_ENDPOINT_URL="
        f"{settings.DOJO_S3_ENDPOINT_URL or '-'}"
        f"{f' (runners: DOJO_S3_PUBLIC_URL={public})' if public else ''}, "
        f"bucket {settings.DOJO_S3_BUCKET or '-'}"
    )


def _test_settings_said() -> None:
    """Print the DOJO_ settings and the upload throttle the test settings change.

    The bench runs under config.settings.test (a throwaway database, its own
    files); where that module changes a limit users run with, say so, so a
    reader knows whether the burst met a limit users would have.
    """
    from django.conf import settings

    from config.settings import base

    changed = [
        f"{name}={getattr(settings, name)} (users: {value})"
        for name, value in sorted(vars(base).items())
        if name.startswith("DOJO_")
        and name not in SAID_APART
        and isinstance(value, bool | int | float | str)
        and getattr(settings, name, value) != value
    ]
    ours = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get("submissions")
    theirs = base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get("submissions")
    if ours != theirs:
        changed.append(f"submissions throttle {ours} (users: {theirs})")
    print(
        f"from the test settings ({os.environ['DJANGO_SETTINGS_MODULE']}): "
        f"{'; '.join(changed) or 'nothing users run differently'}"
    )


def join_command(base: str, cookies: dict, slug: str) -> tuple[str, str]:
    """Make a join command on the hosts page, as an instructor does; (site, token)."""
    import requests

    session = requests.Session()
    session.cookies.update(cookies)
    session.get(f"{base}/w/{slug}/hosts/", timeout=60).raise_for_status()
    page = session.post(
        f"{base}/w/{slug}/hosts/join/",
        data={
            "queues": RUNNER_QUEUES.split(","),
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/w/{slug}/hosts/"},
        timeout=60,
    )
    page.raise_for_status()
    found = JOIN_COMMAND.search(page.text)
    if found is None:
        raise SystemExit(f"the hosts page showed no join command:\n{page.text[:2000]}")
    return found.group(1), found.group(2)


class RunnerHost:
    """``bin/dojo-runner`` joined with a token, held to a CPU share, in its own env."""

    def __init__(
        self, *, site: str, token: str, name: str, folder: Path, log: Path, share
    ):
        self.name, self.share, self.log = name, share, log
        env = {**RUNNER_ENV, "HOME": str(folder)}
        assert not set(SITE_ONLY) & set(env)
        argv = [
            *share.prefix,
            str(ROOT / "bin" / "dojo-runner"),
            "--site",
            site,
            "--join",
            token,
            "--name",
            name,
            "--dir",
            str(folder),
        ]
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def check(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(
                f"runner {self.name} stopped ({self.process.returncode}):\n"
                + self.log.read_text()[-3000:]
            )

    def stop(self) -> None:
        """Stop it as an operator does (Ctrl-C), then kill what is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(45)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def _wait_joined(runners: list[RunnerHost], count: int) -> None:
    from runners.models import Host

    deadline = time.monotonic() + 120
    while Host.objects.filter(revoked_at=None).count() < count:
        for runner in runners:
            runner.check()
        if time.monotonic() > deadline:
            raise SystemExit("the runners did not join within 120 s")
        time.sleep(0.5)


def _per_minute(count: int, seconds: float) -> float:
    return count / seconds * 60 if seconds > 0 else 0.0


def _runner_rates(accepted: list[int], started_wall) -> tuple[float, str, list[str]]:
    """Return the runners' trainings a minute, a line saying so, and problems seen."""
    from submissions.models import Run

    runs = Run.objects.filter(submission_id__in=accepted)
    trains = runs.filter(kind=Run.Kind.TRAIN)
    problems = []
    elsewhere = trains.exclude(worker__startswith="runner-").count()
    if elsewhere:
        problems.append(f"{elsewhere} training(s) ran off the runners")
    on_runners = runs.filter(kind=Run.Kind.EVALUATE, worker__startswith="runner-")
    if on_runners.exists():
        problems.append(f"{on_runners.count()} evaluation(s) ran on a runner")
    done = trains.filter(worker__startswith="runner-").exclude(finished_at=None)
    done = done.exclude(outcome=Run.Outcome.WORKER_LOST)
    handed_back = trains.filter(outcome=Run.Outcome.WORKER_LOST).count()
    times = list(done.values_list("started_at", "finished_at"))
    if not times:
        return 0.0, "the runners finished no training", problems
    first = min(start for start, _ in times)
    last = max(end for _, end in times)
    seconds = (last - first).total_seconds()
    rate = _per_minute(len(times), seconds)
    ok = done.filter(outcome=Run.Outcome.OK).count()
    line = (
        f"runners: {len(times)} training jobs finished ({ok} saved a model, the "
        f"rest stopped at once) in {seconds:.0f} s from the first "
        f"claim ({(first - started_wall).total_seconds():.0f} s after the first "
        f"upload) to the last result: {rate:.2f} a minute"
        f"{f'; {handed_back} handed back' if handed_back else ''}"
    )
    return rate, line, problems


def _job_costs(accepted: list[int]) -> None:
    """Print the median wall and CPU seconds of each kind of job, from its runs."""
    import statistics

    from submissions.models import Run

    runs = Run.objects.filter(submission_id__in=accepted).exclude(finished_at=None)
    kinds = (
        ("training jobs that saved a model (runners)", Run.Kind.TRAIN, True),
        ("training jobs that stopped at once (runners)", Run.Kind.TRAIN, False),
        ("evaluations (the site's worker)", Run.Kind.EVALUATE, None),
    )
    for label, kind, ok in kinds:
        rows = runs.filter(kind=kind)
        if ok is not None:
            rows = (
                rows.filter(outcome=Run.Outcome.OK)
                if ok
                else rows.exclude(outcome=Run.Outcome.OK)
            )
        costs = [
            (wall, cpu)
            for wall, cpu in rows.values_list("duration_seconds", "cpu_seconds")
            if wall is not None
        ]
        if not costs:
            continue
        wall = statistics.median(w for w, _ in costs)
        cpus = [c for _, c in costs if c is not None]
        cpu = f", {statistics.median(cpus):.1f} CPU s" if cpus else ""
        print(f"{label}: {len(costs)}, median {wall:.1f} s in the sandbox{cpu}")


def run_pass(args: argparse.Namespace, hosts: int) -> Pass:
    """Run the burst with ``hosts`` runners on a fresh database; print and return."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from runners.models import Host
    from workers.sandbox import cpu_share, sweep_orphans
    from workshops.services import workshop_load_pack

    load_start = os.getloadavg()
    print(f"\n== {hosts} runner host(s); load average {_load(load_start)}", flush=True)
    workshop = workshop_load_pack(path=ROOT / "assignments" / "dl101")
    people = enrolled_participants(args.participants, workshop)
    cookies = instructor_cookie(workshop)
    pages = watched_pages(workshop.slug)
    logs = Path(tempfile.mkdtemp(prefix="runners-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_web(port, logs / "web.log", "gunicorn")
    workers = start_workers(logs, args.workers, spares=True)
    reference = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_bytes()
    trains = reference.replace(b"epochs=10", f"epochs={args.epochs}".encode())
    runners: list[RunnerHost] = []
    shares = contextlib.ExitStack()
    try:
        rest_p95(base, cookies, pages, repeat=6)
        rest = rest_p95(base, cookies, pages, repeat=5 if args.quick else 20)
        for n in range(hosts):
            site, token = join_command(base, cookies, workshop.slug)
            share = shares.enter_context(cpu_share(cpus=RUNNER_CPUS))
            # Under the run's folder (the sandbox's uid can read it; removed
            # at the end): a mkdtemp folder is 0700.
            folder = Path(settings.RUN_DIR) / f"runner-{hosts}-{n}"
            runners.append(
                RunnerHost(
                    site=site,
                    token=token,
                    name=f"bench-{n}",
                    folder=folder,
                    log=logs / f"runner-{n}.log",
                    share=share,
                )
            )
        _wait_joined(runners, hosts)
        plan = burst_plan(
            people,
            per=args.per,
            window=args.window,
            train_fraction=args.train_fraction,
            trains=trains,
        )
        watcher = Watcher(base, cookies, pages)
        watcher.start()
        cpu_before = [r.share.cpu_seconds() or 0.0 for r in runners]
        started, started_wall = time.monotonic(), timezone.now()
        results = send(base, plan, started, clients=0, threads=args.threads)
        burst_seconds = time.monotonic() - started
        backend = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
        broker = settings.CELERY_BROKER_URL.split(":")[0]
        print(
            f"{backend} + {broker}: {args.participants} participants x {args.per} "
            f"in {args.window:.0f} s (sent in {burst_seconds:.0f} s); web: "
            f"{web_description('gunicorn')}; site workers grade with "
            f"{args.workers} slot(s); about {args.train_fraction:.0%} train the MLP "
            f"reference ({args.epochs} epochs) on {hosts} runner(s)",
            flush=True,
        )
        five_xx = sum(1 for code, *_ in results if code >= 500)
        accepted = print_uploads(results, five_xx)
        finals = wait_final(accepted, started, args.final_timeout)
        watcher.stop.set()
        watcher.join()
        ended = time.monotonic()
        for runner in runners:
            runner.check()
        used = [
            (r.share.cpu_seconds() or 0.0) - before
            for r, before in zip(runners, cpu_before, strict=True)
        ]
    finally:
        for runner in runners:
            runner.stop()
        shares.close()
        for worker in workers:
            worker.stop()
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(20)
        sweep_orphans(settings.DOJO_WORK_ROOT)
    five_xx += watcher.errors
    if watcher.errors:
        print(f"5xx answers to the watched pages: {watcher.errors}")
    print_page_p95(
        watcher.times_between(started, started + burst_seconds),
        rest,
        "during the uploads",
    )
    during_jobs = print_page_p95(
        watcher.times_between(started + burst_seconds, ended),
        rest,
        "after the uploads, while the jobs ran on the runners",
    )
    whole = print_page_p95(
        watcher.times_between(started, ended), rest, "from first upload to last final"
    )
    print_finals(finals, len(accepted), burst_seconds)
    final_seconds = finals.final_at if finals.final_at is not None else finals.waited
    final_rate = _per_minute(finals.finals, final_seconds)
    print(f"final submissions a minute, from the first upload: {final_rate:.2f}")
    rate, line, problems = _runner_rates(accepted, started_wall)
    print(line)
    _job_costs(accepted)
    wall = ended - started
    done = dict(Host.objects.values_list("name", "jobs_done"))
    for runner, seconds in zip(runners, used, strict=True):
        print(
            f"runner {runner.name}: {done.get(runner.name, 0)} jobs, {seconds:.0f} "
            f"CPU s in {wall:.0f} s = {seconds / wall:.2f} core (held to "
            f"{RUNNER_CPUS})"
        )
    load_end = os.getloadavg()
    print(f"logs: {logs}; load average {_load(load_end)}")
    if finals.lost or finals.final_at is None:
        problems.append(f"{finals.lost} lost, final: {finals.final_at is not None}")
    if finals.by_status.get("error"):
        problems.append(f"{finals.by_status['error']} ended in error")
    if five_xx:
        problems.append(f"{five_xx} 5xx answers")
    p95 = during_jobs.get("leaderboard", whole.get("leaderboard"))
    return Pass(hosts, rate, final_rate, p95, problems, load_start, load_end)


def _settings_said(args: argparse.Namespace) -> None:
    """Print every setting this bench changes, and those it keeps as users run."""
    from django.conf import settings

    print(
        f"changed for the site (web and workers): DOJO_RUNNER_QUEUES={RUNNER_QUEUES} "
        "(default: none; trainings go to runners only, the site's workers grade)"
    )
    print(
        "as users run them: DOJO_SPARES=true, DOJO_CHECK_SPARES=true (the test "
        "settings turn them off); DOJO_RUNNER_POLL_SECONDS="
        f"{settings.DOJO_RUNNER_POLL_SECONDS:g}, DOJO_HEARTBEAT_GRACE_SECONDS="
        f"{settings.DOJO_HEARTBEAT_GRACE_SECONDS}, DOJO_SANDBOX_CPUS="
        f"{settings.DOJO_SANDBOX_CPUS:g}; gunicorn per gunicorn.conf.py"
    )
    data = (
        f"DOJO_DATASET_TRAIN_PER_CLASS={settings.DOJO_DATASET_TRAIN_PER_CLASS}, "
        f"DOJO_DATASET_TEST_PER_CLASS={settings.DOJO_DATASET_TEST_PER_CLASS}"
    )
    if args.full_data:
        print(f"data as users run it: {data} (all of Fashion-MNIST)")
    else:
        print(
            f"data from the test settings: {data} images a class (users: 0, all of "
            "Fashion-MNIST; --full-data)"
        )
    print(
        f"runners: bin/dojo-runner, 1 slot each, bwrap sandbox, warm spares on "
        f"(its default, as users run it), each held to {RUNNER_CPUS} core by a cgroup "
        f"(cpu quota {int(RUNNER_CPUS * 100_000)} per 100000 us); environment: "
        f"{', '.join(sorted(RUNNER_ENV))} and HOME only; joined from the hosts page"
    )
    print(f"object store for the runners' files: {_object_store()}")
    _test_settings_said()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--per", type=int, default=3)
    parser.add_argument("--window", type=float, default=60.0)
    # A tenth train: burst.py's third would keep one half-core runner busy
    # for about half an hour.
    parser.add_argument("--train-fraction", type=float, default=0.1)
    parser.add_argument(
        "--epochs", type=int, default=10, help="the MLP reference's (it has 10)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="the site worker's slots (grading)"
    )
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument(
        "--hosts", default="1,2", help="runner hosts in each pass, in order"
    )
    parser.add_argument("--full-data", action="store_true")
    parser.add_argument("--final-timeout", type=float, default=3600.0)
    parser.add_argument(
        "--quick", action="store_true", help="minutes: 2 participants x 2, 1 epoch"
    )
    args = parser.parse_args()
    if args.quick:
        args.participants, args.per, args.window = 2, 2, 3.0
        args.train_fraction, args.epochs = 0.5, 1
        args.final_timeout = min(args.final_timeout, 400.0)
    # Before Django starts here, and inherited by the web and the workers.
    os.environ["DOJO_RUNNER_QUEUES"] = RUNNER_QUEUES
    if args.full_data:
        os.environ["DOJO_DATASET_TRAIN_PER_CLASS"] = "0"
        os.environ["DOJO_DATASET_TEST_PER_CLASS"] = "0"
    print(f"{sys.argv[0]} {' '.join(sys.argv[1:])}; load average {_load()}")
    passes = []
    for hosts in [int(n) for n in args.hosts.split(",")]:
        with test_database():
            if not passes:
                _settings_said(args)
            passes.append(run_pass(args, hosts))
    print()
    for done in passes:
        p95 = done.leaderboard_p95_jobs
        print(
            f"{done.hosts} runner(s): {done.runner_jobs_per_minute:.2f} training jobs "
            f"a minute on the runners, {done.final_per_minute:.2f} submissions "
            f"final a minute; leaderboard p95 while the jobs ran "
            f"{'-' if p95 is None else f'{p95 * 1000:.0f} ms'} (target < "
            f"{TARGET_P95 * 1000:.0f} ms); load average {_load(done.load_start)} "
            f"at the pass's start, {_load(done.load_end)} at its end"
        )
    print(f"object store: {_object_store()}")
    by_hosts = {done.hosts: done for done in passes}
    if 1 in by_hosts and 2 in by_hosts and by_hosts[1].runner_jobs_per_minute:
        one, two = by_hosts[1], by_hosts[2]
        print(
            f"two runners against one: "
            f"{two.runner_jobs_per_minute / one.runner_jobs_per_minute:.2f}x "
            f"training jobs a minute (target >= {TARGET_RATIO}x), "
            f"{two.final_per_minute / one.final_per_minute:.2f}x submissions final "
            "a minute"
        )
    problems = [f"{d.hosts} runner(s): {p}" for d in passes for p in d.problems]
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(f"load average at the end {_load()}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
