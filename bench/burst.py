"""Burst: a class submits at once, through the API, while the instructor watches.

100 participants submit 3 times each at random moments within one minute
(``--participants``, ``--per``, ``--window``); a third of the uploads are the
MLP reference solution, which really trains and is graded; the rest stop at
once (a failing script), as most quick retries do. ``--clients 16`` sends
them instead from 16 clients, each upload as soon as the last was answered. A
real web process (gunicorn as the Dockerfile runs it, gunicorn.conf.py's 3
processes of 16 threads; ``--server runserver`` for ``make run``'s) and
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
or as soon as answered when slower, from a process of their own) during the
burst as a ratio of the same pages' p95 at rest measured first in this run (and
against the 300 ms target), and the time from the first upload until every
submission is final, from the first upload and from the last. ``--json`` adds
one line of the counts for a test to read.

    .venv/bin/python bench/burst.py --train-fraction 0
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
      REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/burst.py \\
      --train-fraction 0 --clients 16 --spares both
    .venv/bin/python bench/burst.py --quick   # seconds: same path, tiny class
"""

import argparse
import json
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from _burst import (
    Watcher,
    burst_plan,
    cpu_settle,
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
from _site import (
    ROOT,
    enrolled_participants,
    free_port,
    percentile,
    start_web,
    test_database,
)

# Spares must leave queued work at least 0.95x as fast as with them off.
TARGET_SPARES_RATIO = 1 / 0.95


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

    from workers.sandbox import sweep_orphans
    from workshops.services import workshop_load_pack

    workshop = workshop_load_pack(path=ROOT / "assignments" / "dl101")
    people = enrolled_participants(args.participants, workshop)
    cookies = instructor_cookie(workshop)
    pages = watched_pages(workshop.slug)
    logs = Path(tempfile.mkdtemp(prefix="burst-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = start_web(port, logs / "web.log", args.server)
    workers = start_workers(logs, args.workers, spares)
    reference = (ROOT / "assignments" / "dl101" / "mlp" / "solution.py").read_bytes()
    try:
        # As on the day: the workers' spares have warmed before a class uploads.
        settled = cpu_settle()
        print(f"waited {settled:.0f} s for the workers to finish starting", flush=True)
        # Every gunicorn worker imports Django and opens its connection first.
        rest_p95(base, cookies, pages, repeat=6)
        rest = rest_p95(base, cookies, pages, repeat=5 if args.quick else 20)
        plan = burst_plan(
            people,
            per=args.per,
            window=args.window,
            train_fraction=args.train_fraction,
            trains=reference,
        )
        watcher = Watcher(base, cookies, pages)
        watcher.start()
        started = time.monotonic()
        results = send(base, plan, started, clients=args.clients, threads=args.threads)
        burst_seconds = time.monotonic() - started
        watcher.stop.set()
        watcher.join()
        five = sum(1 for code, _, _, _ in results if code >= 500) + watcher.errors
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
            f"slot(s), web: {web_description(args.server)}; about "
            f"{args.train_fraction:.0%} train the MLP reference",
            flush=True,
        )
        accepted = print_uploads(results, five)
        page_p95 = print_page_p95(watcher.times, rest, "during the burst")
        finals = wait_final(accepted, started, args.final_timeout)
    finally:
        for worker in workers:
            worker.stop()
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(20)
        # The stopped workers' spares and predictor leave sized tmpfs work dirs.
        sweep_orphans(settings.DOJO_WORK_ROOT)
    print_finals(finals, len(accepted), burst_seconds)
    print(f"logs: {logs}")
    final_seconds = finals.final_at if finals.final_at is not None else finals.waited
    summary = {
        "accepted": len(accepted),
        "sent": len(results),
        "five_xx": five,
        "error": finals.by_status.get("error", 0),
        "lost": finals.lost,
        "final": finals.final_at is not None,
        "final_seconds": final_seconds,
        "final_after_last": final_seconds - burst_seconds,
        "spares": spares,
        "upload_p95": percentile([took for *_, took in results], 0.95),
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
