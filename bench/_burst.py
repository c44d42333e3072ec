"""The class burst's parts, shared by bench/burst.py and bench/runners.py.

An instructor's session and the pages it watches, the site's workers as
bin/dojo-run starts them, the uploads' plan and their sending, the wait until
every accepted submission is final, and how those are printed.
"""

from __future__ import annotations

import collections
import concurrent.futures
import multiprocessing
import random
import runpy
import time
from dataclasses import dataclass, field
from pathlib import Path

from _site import GUNICORN_CONFIG, percentile, post_submission

TARGET_P95 = 0.300
# The watcher loads its pages once every this many seconds (or as soon as the
# last answer came, when they take longer).
WATCH_EVERY = 1.0
FAILING = b"raise SystemExit('this attempt stops here')\n"


def web_description(server: str) -> str:
    """Say how the web process serves: gunicorn.conf.py's settings, unchanged."""
    if server != "gunicorn":
        return server
    conf = runpy.run_path(str(GUNICORN_CONFIG))
    return (
        f"gunicorn ({GUNICORN_CONFIG.name}: {conf['workers']} x "
        f"{conf.get('threads', 1)} {conf.get('worker_class', 'sync')})"
    )


def instructor_cookie(workshop) -> dict[str, str]:
    """Return the session cookie of the workshop's instructor (made here)."""
    from django.test import Client

    from accounts.services import user_ensure
    from workshops.services import enrollment_add

    user = user_ensure(username="burst-instructor", password="burst-pass-123")
    enrollment_add(workshop=workshop, user=user, role="instructor")
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


def watched_pages(slug: str) -> dict[str, str]:
    """Return the instructor's pages a burst watches: leaderboard and dashboard."""
    return {
        "leaderboard": f"/w/{slug}/a/mlp/leaderboard/",
        "dashboard": f"/w/{slug}/dashboard/",
    }


class Watcher:
    """Load the instructor's pages in a loop and time each answer.

    In a process of its own: as a thread beside the clients' 16 it waited for
    their interpreter lock, and that wait was counted as the page's time.
    """

    def __init__(self, base: str, cookies: dict, pages: dict[str, str]) -> None:
        # Spawned, not forked: the bench's own threads (the workers' log
        # readers) may hold a lock at the moment of a fork.
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self._answers = context.Queue()
        self._process = context.Process(
            target=_watch,
            args=(base, cookies, pages, self.stop, self._answers),
            daemon=True,
        )
        # (when it was asked, monotonic: the same clock in both processes;
        # page; seconds it took)
        self.loads: list[tuple[float, str, float]] = []
        self.errors = 0

    def start(self) -> None:
        """Start loading the pages."""
        self._process.start()

    def join(self) -> None:
        """Wait for the loads after ``stop`` was set, and take their times."""
        self.loads, self.errors = self._answers.get(timeout=120)
        self._process.join(30)

    @property
    def times(self) -> dict[str, list[float]]:
        """Return each page's load times."""
        return self.times_between(0.0, float("inf"))

    def times_between(self, start: float, end: float) -> dict[str, list[float]]:
        """Return each page's load times of the loads asked in [start, end)."""
        found: dict[str, list[float]] = collections.defaultdict(list)
        for at, name, took in self.loads:
            if start <= at < end:
                found[name].append(took)
        return found


def _watch(base: str, cookies: dict, pages: dict[str, str], stop, answers) -> None:
    import requests

    session = requests.Session()
    session.cookies.update(cookies)
    loads, errors = [], 0
    try:
        while not stop.is_set():
            cycle = time.perf_counter()
            for name, path in pages.items():
                at, start = time.monotonic(), time.perf_counter()
                try:
                    failed = session.get(base + path, timeout=60).status_code >= 500
                except requests.RequestException:
                    failed = True  # a reset or a timeout: counted, not fatal
                loads.append((at, name, time.perf_counter() - start))
                errors += failed
            # A fixed pace, not "again 0.2 s after the answer": fast pages
            # would otherwise be loaded more often, and their own load would
            # weigh on the uploads they are compared with.
            stop.wait(max(0.0, WATCH_EVERY - (time.perf_counter() - cycle)))
    finally:
        answers.put((loads, errors))


def cpu_settle(
    *, busy_below: float = 0.25, hold: float = 3.0, at_most: float = 120.0
) -> float:
    """Wait until the machine's CPU stays below ``busy_below`` for ``hold``
    seconds (at most ``at_most``); return how long it took.

    Workers start their warm spares (each imports Keras) as they start; a
    room's workers have long been warm when the class uploads, so the burst
    begins once that warming is over, as it would on the day.
    """

    def busy_idle() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, idle

    started = time.monotonic()
    calm_since = None
    last = busy_idle()
    while time.monotonic() - started < at_most:
        time.sleep(0.5)
        now = busy_idle()
        busy, idle = now[0] - last[0], now[1] - last[1]
        last = now
        if busy / max(1, busy + idle) < busy_below:
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= hold:
                break
        else:
            calm_since = None
    return time.monotonic() - started


def rest_p95(base: str, cookies: dict, pages: dict[str, str], repeat: int) -> dict:
    """Return each page's p95 at rest, loaded as a person reloads."""
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


def start_workers(logs: Path, slots: int, spares: bool) -> list:
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


def burst_plan(
    people: list[tuple[str, str]],
    *,
    per: int,
    window: float,
    train_fraction: float,
    trains: bytes,
) -> list[tuple[float, str, bytes, int]]:
    """Return the uploads, sorted by when they go: (at, token, code, attempt).

    About ``train_fraction`` of them are ``trains`` (code that trains and is
    graded); the rest stop at once (FAILING), as most quick retries do.
    """
    rng = random.Random(7)
    plan = []
    for _username, token in people:
        for attempt in range(per):
            training = rng.random() < train_fraction
            at = rng.uniform(0, window)
            plan.append((at, token, trains if training else FAILING, attempt))
    plan.sort()
    return plan


def send(
    base: str, plan: list, started: float, *, clients: int, threads: int
) -> list[tuple[int, str, int, float]]:
    """Send the uploads: at their planned moments, or back to back per client."""

    def fire(item):
        at, token, code, attempt = item
        if not clients:
            time.sleep(max(0.0, started + at - time.monotonic()))
        return post_submission(base, token, code, f"try{attempt}.py")

    with concurrent.futures.ThreadPoolExecutor(clients or threads) as pool:
        return list(pool.map(fire, plan))


def print_uploads(results: list, five_xx: int) -> list[int]:
    """Print the uploads' outcome and times; return the accepted submissions' ids."""
    accepted = [sid for code, _, sid, _ in results if code == 201]
    refused = collections.Counter(
        f"{code} {detail}" for code, detail, _, _ in results if 400 <= code < 500
    )
    upload_times = [took for _, _, _, took in results]
    print(f"accepted {len(accepted)}, refused {sum(refused.values())}")
    for reason, count in refused.most_common():
        print(f"  refused {count}: {reason}")
    print(f"5xx answers: {five_xx}")
    print(
        f"upload p50 {percentile(upload_times, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(upload_times, 0.95) * 1000:.0f} ms "
        f"(target p95 < 1000 ms)"
    )
    return accepted


def print_page_p95(
    times: dict[str, list[float]], rest: dict[str, float], during: str
) -> dict[str, float]:
    """Print each page's p95 ``during`` something against rest and the target."""
    found = {}
    for name in rest:
        if not times.get(name):
            print(f"{name}: not loaded {during}")
            continue
        p95 = percentile(times[name], 0.95)
        found[name] = p95
        print(
            f"{name} p95 {during} {p95 * 1000:.0f} ms = "
            f"{p95 / rest[name]:.1f} x at rest ({rest[name] * 1000:.0f} ms), "
            f"{p95 / TARGET_P95:.2f} x the 300 ms target "
            f"({len(times[name])} loads)",
            flush=True,
        )
    return found


@dataclass
class Finals:
    """How the accepted submissions ended, and when the last became final."""

    final_at: float | None
    waited: float
    finals: int
    lost: int
    by_status: dict[str, int] = field(default_factory=dict)


def wait_final(accepted: list[int], started: float, timeout: float) -> Finals:
    """Wait until every accepted submission is final (or ``timeout`` s from start)."""
    from django.utils import timezone

    from submissions.models import FINAL_STATUSES, Submission
    from submissions.services.reconcile import submission_health

    final_at = None
    deadline = started + timeout
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
    return Finals(final_at, waited, finals, lost, dict(by_status))


def print_finals(finals: Finals, accepted: int, burst_seconds: float) -> None:
    """Print what was lost, the end states and when every submission was final."""
    print(f"lost (accepted but missing, or stuck past the grace): {finals.lost}")
    print(f"states at the end: {finals.by_status}")
    if finals.final_at is None:
        print(
            f"{finals.finals} of {accepted} final {finals.waited:.0f} s after the "
            f"first upload ({finals.finals / finals.waited * 60:.1f} a minute); "
            "stopped waiting"
        )
    else:
        print(
            f"every submission final {finals.final_at:.0f} s after the first "
            f"upload, {finals.final_at - burst_seconds:.0f} s after the last"
        )
