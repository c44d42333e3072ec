"""Burst: a class submits at once, through the API, while the instructor watches.

100 participants submit 3 times each at random moments within one minute
(``--participants``, ``--per``, ``--window``); a third of the uploads are the
MLP reference solution, which really trains and is graded; the rest stop at
once (a failing script), as most quick retries do. ``--clients 16`` sends
them instead from 16 clients, each upload as soon as the last was answered. A
real web process (gunicorn as the Dockerfile runs it, gunicorn.conf.py's 3
processes of 8 threads; ``--server runserver`` for ``make run``'s) and
bin/dojo-run's workers serve it (one on train-cpu,train-gpu,evaluate,site with
``--workers`` slots and beat, one solo on predict, one with 2 slots on check),
on the configured database and broker:
SQLite and the embedded broker by default, PostgreSQL and Redis with
DATABASE_URL and REDIS_URL.

The workers run with the settings users run: warm spares on (DOJO_SPARES and
DOJO_CHECK_SPARES set to true for them, as the suite's settings turn spares
off). ``--spares off`` turns both off and says so; ``--spares both`` runs the
same burst twice, spares on then off, each on a fresh database, and prints the
ratios (on / off) of the times until every upload is final, from the first
upload and from the last; spares must not slow queued work: 1.05 or less, i.e.
at least 0.95x the throughput. The uploads' own pace (the web under load)
weighs on the first; the second is what the workers add. ``--rounds N`` runs N
such pairs and prints the median, as a shared host's load drifts between
passes; the rounds alternate which pass goes first.

Prints: uploads accepted and refused (with the reasons), 5xx answers, upload
p50/p95, lost submissions (accepted but missing or stuck), how many ended
`error`, p95 of the leaderboard and the dashboard (both loaded once a second,
or as soon as answered when slower) during the burst as a ratio
of the same pages' p95 at rest measured first in this run (and against the
300 ms target), and the time from the first upload until every submission is
final, from the first upload and from the last. ``--json`` adds one line of
the counts for a test to read.

    .venv/bin/python bench/burst.py --train-fraction 0
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
      REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/burst.py \\
      --train-fraction 0 --clients 16 --spares both
    .venv/bin/python bench/burst.py --quick   # seconds: same path, tiny class
"""

import argparse
import collections
import concurrent.futures
import json
import os
import random
import runpy
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _site import (
    GUNICORN_CONFIG,
    ROOT,
    enrolled_participants,
    free_port,
    percentile,
    post_submission,
    start_web,
    test_database,
)

TARGET_P95 = 0.300
# The watcher loads both pages once every this many seconds (or as soon as
# the last answer came, when they take longer).
WATCH_EVERY = 1.0
# Spares must leave queued work at least 0.95x as fast as with them off.
TARGET_SPARES_RATIO = 1 / 0.95
FAILING = b"raise SystemExit('this attempt stops here')\n"


def _web(server: str) -> str:
    """Say how the web process serves: gunicorn.conf.py's settings, unchanged."""
    if server != "gunicorn":
        return server
    conf = runpy.run_path(str(GUNICORN_CONFIG))
    return (
        f"gunicorn ({GUNICORN_CONFIG.name}: {conf['workers']} x "
        f"{conf.get('threads', 1)} {conf.get('worker_class', 'sync')})"
    )


def _instructor_cookie(workshop) -> dict[str, str]:
    from django.test import Client

    from accounts.services import user_ensure
    from workshops.services import enrollment_add

    user = user_ensure(username="burst-instructor", password="burst-pass-123")
    enrollment_add(workshop=workshop, user=user, role="instructor")
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


class Watcher(threading.Thread):
    """Load the instructor's pages in a loop and time each answer."""

    def __init__(self, base: str, cookies: dict, pages: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.base, self.cookies, self.pages = base, cookies, pages
        self.times: dict[str, list[float]] = collections.defaultdict(list)
        self.errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import requests

        session = requests.Session()
        session.cookies.update(self.cookies)
        while not self.stop.is_set():
            cycle = time.perf_counter()
            for name, path in self.pages.items():
                start = time.perf_counter()
                response = session.get(self.base + path, timeout=60)
                self.times[name].append(time.perf_counter() - start)
                if response.status_code >= 500:
                    self.errors += 1
            # A fixed pace, not "again 0.2 s after the answer": fast pages
            # would otherwise be loaded more often, and their own load would
            # weigh on the uploads they are compared with.
            self.stop.wait(max(0.0, WATCH_EVERY - (time.perf_counter() - cycle)))


def _rest_p95(base: str, cookies: dict, pages: dict[str, str], repeat: int) -> dict:
    import requests

    session = requests.Session()
    session.cookies.update(cookies)
    timings = collections.defaultdict(list)
    for _ in range(repeat):
        for name, path in pages.items():
            start = time.perf_counter()
            session.get(base + path, timeout=60).raise_for_status()
            timings[name].append(time.perf_counter() - start)
        # A person reloading, not a script: the site answers each signed-in
        # client 10 requests a second (DOJO_WEB_CLIENT_RATE, web/fairness.py).
        time.sleep(0.25)
    return {name: percentile(values, 0.95) for name, values in timings.items()}


def _start_workers(logs: Path, slots: int, spares: bool) -> list:
    """Start bin/dojo-run's three workers, spares on or off (said in the output)."""
    from tests.helpers import WorkerProcess

    flag = "true" if spares else "false"
    env = {"DOJO_SPARES": flag, "DOJO_CHECK_SPARES": flag}
    print(
        f"workers: spares {'on' if spares else 'off'} (DOJO_SPARES={flag}, "
        f"DOJO_CHECK_SPARES={flag}){'' if spares else ': changed from the default'}",
        flush=True,
    )
    return [
        WorkerProcess(
            log=logs / "worker.log",
            queues="train-cpu,train-gpu,evaluate,site",
            concurrency=slots,
            beat=True,
            env=env,
        ),
        WorkerProcess(log=logs / "predict.log", queues="predict", pool="solo", env=env),
        WorkerProcess(log=logs / "check.log", queues="check", concurrency=2, env=env),
    ]


def _send(args: argparse.Namespace, plan: list, started: float) -> list:
    """Send the uploads: at their planned moments, or back to back per client."""

    def fire(item):
        at, token, code, attempt = item
        if not args.clients:
            time.sleep(max(0.0, started + at - time.monotonic()))
        return post_submission(base, token, code, f"try{attempt}.py")

    base = args.base
    with concurrent.futures.ThreadPoolExecutor(args.clients or args.threads) as pool:
        return list(pool.map(fire, plan))


def _print_ratios(pairs: list[list[dict]], as_json: bool) -> None:
    """Print on / off of the times until every upload is final, each round's."""
    ratios = {}
    for field, since in (
        ("final_seconds", "the first upload"),
        ("final_after_last", "the last upload (the issue's measure)"),
    ):
        each = [on[field] / off[field] for on, off in pairs]
        ratios[field] = statistics.median(each)
        rounds = ", ".join(
            f"{on[field]:.0f} s / {off[field]:.0f} s" for on, off in pairs
        )
        print(
            f"every upload final after {since}, spares on / off: {rounds}; "
            f"ratio {' '.join(f'{r:.2f}' for r in each)} (median "
            f"{ratios[field]:.2f}, target <= {TARGET_SPARES_RATIO:.2f})"
        )
    if as_json:
        print("RATIO " + json.dumps(ratios))


def main(args: argparse.Namespace, spares: bool) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from submissions.models import FINAL_STATUSES, Submission
    from submissions.services.reconcile import submission_health
    from workers.sandbox import sweep_orphans
    from workshops.services import workshop_load_pack

    workshop = workshop_load_pack(path=ROOT / "assignments" / "dl101")
    people = enrolled_participants(args.participants, workshop)
    cookies = _instructor_cookie(workshop)
    slug = workshop.slug
    pages = {
        "leaderboard": f"/w/{slug}/a/mlp/leaderboard/",
        "dashboard": f"/w/{slug}/dashboard/",
    }
    logs = Path(tempfile.mkdtemp(prefix="burst-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_web(port, logs / "web.log", args.server)
    args.base = base
    workers = _start_workers(logs, args.workers, spares)
    reference = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_bytes()
    try:
        # Every gunicorn worker imports Django and opens its connection first.
        _rest_p95(base, cookies, pages, repeat=6)
        rest = _rest_p95(base, cookies, pages, repeat=5 if args.quick else 20)
        rng = random.Random(7)
        plan = []
        for _username, token in people:
            for attempt in range(args.per):
                trains = rng.random() < args.train_fraction
                at = rng.uniform(0, args.window)
                plan.append((at, token, reference if trains else FAILING, attempt))
        plan.sort()
        watcher = Watcher(base, cookies, pages)
        watcher.start()
        started = time.monotonic()
        results = _send(args, plan, started)
        burst_seconds = time.monotonic() - started
        watcher.stop.set()
        watcher.join()
        accepted = [sid for code, _, sid, _ in results if code == 201]
        refused = collections.Counter(
            f"{code} {detail}" for code, detail, _, _ in results if 400 <= code < 500
        )
        five = sum(1 for code, _, _, _ in results if code >= 500) + watcher.errors
        upload_times = [took for _, _, _, took in results]
        backend = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
        broker = settings.CELERY_BROKER_URL.split(":")[0]
        how = (
            f"from {args.clients} clients as fast as answered"
            if args.clients
            else f"in {args.window:.0f} s"
        )
        print(
            f"{backend} + {broker}: {args.participants} participants x {args.per} "
            f"{how} (sent in {burst_seconds:.0f} s), {args.workers} training "
            f"slot(s), web: {_web(args.server)}; about "
            f"{args.train_fraction:.0%} train the MLP reference",
            flush=True,
        )
        print(f"accepted {len(accepted)}, refused {sum(refused.values())}")
        for reason, count in refused.most_common():
            print(f"  refused {count}: {reason}")
        print(f"5xx answers: {five}")
        print(
            f"upload p50 {percentile(upload_times, 0.5) * 1000:.0f} ms, "
            f"p95 {percentile(upload_times, 0.95) * 1000:.0f} ms "
            f"(target p95 < 1000 ms)"
        )
        page_p95 = {}
        for name in pages:
            during = percentile(watcher.times[name], 0.95)
            page_p95[name] = during
            print(
                f"{name} p95 during the burst {during * 1000:.0f} ms = "
                f"{during / rest[name]:.1f} x at rest ({rest[name] * 1000:.0f} ms), "
                f"{during / TARGET_P95:.2f} x the 300 ms target "
                f"({len(watcher.times[name])} loads)",
                flush=True,
            )
        final_at = None
        deadline = started + args.final_timeout
        stuck: set[int] = set()
        finals = 0
        while time.monotonic() < deadline:
            active = list(
                Submission.objects.filter(pk__in=accepted).exclude(
                    status__in=FINAL_STATUSES
                )
            )
            now = timezone.now()
            stuck = {
                row.pk
                for row in active
                if submission_health(submission=row, now=now).state == "broken"
            }
            finals = len(accepted) - len(active)
            if not active:
                final_at = time.monotonic() - started
                break
            time.sleep(1)
        waited = time.monotonic() - started
        rows = Submission.objects.filter(pk__in=accepted)
        by_status = collections.Counter(rows.values_list("status", flat=True))
        lost = len(accepted) - rows.count() + len(stuck)
    finally:
        for worker in workers:
            worker.stop()
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(20)
        # The stopped workers' spares and predictor leave sized tmpfs work dirs.
        sweep_orphans(settings.DOJO_WORK_ROOT)
    print(f"lost (accepted but missing, or stuck past the grace): {lost}")
    print(f"states at the end: {dict(by_status)}")
    if final_at is None:
        print(
            f"{finals} of {len(accepted)} final {waited:.0f} s after the first "
            f"upload ({finals / waited * 60:.1f} a minute); stopped waiting"
        )
    else:
        print(
            f"every submission final {final_at:.0f} s after the first upload, "
            f"{final_at - burst_seconds:.0f} s after the last"
        )
    print(f"logs: {logs}")
    summary = {
        "accepted": len(accepted),
        "sent": len(results),
        "five_xx": five,
        "error": by_status.get("error", 0),
        "lost": lost,
        "final": final_at is not None,
        "final_seconds": final_at if final_at is not None else waited,
        "final_after_last": (final_at if final_at is not None else waited)
        - burst_seconds,
        "spares": spares,
        "upload_p95": percentile(upload_times, 0.95),
        **{f"{name}_p95": value for name, value in page_p95.items()},
    }
    if args.json:
        print("SUMMARY " + json.dumps(summary))
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--per", type=int, default=3)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--train-fraction", type=float, default=1 / 3)
    parser.add_argument(
        "--workers", type=int, default=2, help="training slots (dojo-run's -c)"
    )
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="send from this many clients, each as soon as answered (0: --window)",
    )
    parser.add_argument("--spares", choices=("on", "off", "both"), default="on")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --spares both: pairs of passes (on, off), for a noisy host",
    )
    parser.add_argument("--final-timeout", type=float, default=3600.0)
    parser.add_argument(
        "--server", choices=("gunicorn", "runserver"), default="gunicorn"
    )
    parser.add_argument("--json", action="store_true", help="print a SUMMARY line")
    parser.add_argument(
        "--quick", action="store_true", help="seconds: 6 participants x 2 in 5 s"
    )
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.participants, arguments.per, arguments.window = 6, 2, 5.0
        arguments.train_fraction, arguments.workers = 0.0, 1
        arguments.final_timeout = min(arguments.final_timeout, 180.0)
    passes = {"on": [True], "off": [False], "both": [True, False]}[arguments.spares]
    pairs = []
    for index in range(arguments.rounds if arguments.spares == "both" else 1):
        # Rounds alternate which pass goes first: a host whose load drifts
        # would otherwise always favour the same one.
        order = passes if index % 2 == 0 else passes[::-1]
        if len(order) > 1:
            print(
                f"round {index + 1}: spares {'on' if order[0] else 'off'} first",
                flush=True,
            )
        summaries = {}
        for spares_on in order:
            with test_database():
                summaries[spares_on] = main(arguments, spares_on)
        pairs.append([summaries[on] for on in passes])
    if arguments.spares == "both":
        _print_ratios(pairs, arguments.json)
