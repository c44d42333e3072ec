"""Class-scale pages: server time and SQL queries from 30 to 1,000 participants.

Seed one workshop per tier in one throwaway database: the baseline (30
participants) and each tier asked for (default 300 and 1,000 participants x 3
assignments x 30 submissions: 27,000 and 90,000 submissions, each with a run and
a grade; the newest of each participant's runs and grades carries a full log and
report, the others a short one, so seeding stays fast). Standings are built in
one pass, as `manage.py standings_check --rebuild` does. Then time the pages an
instructor and a participant open during a workshop through Django's test
client. Prints p50 and p95 per page and tier, p95 of the largest tier as a ratio
of the baseline's (target below 2 for pages), the query counts (which must not
grow) and p95 as a ratio of its tier's target (below 1.0 meets it: 60 ms at 300
participants, 100 ms at 1,000, 2 s for the CSV export).

    .venv/bin/python bench/pages.py [--participants 300,1000] [--submissions 30]
        [--repeat 30]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python \
        bench/pages.py
"""

from __future__ import annotations

import argparse
import datetime
import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from _site import percentile, test_database

BASELINE_PARTICIPANTS = 30
PCTS = ("p50", "p95")
WARMUPS = 2
BATCH_SIZE = 2000
# p95 targets per tier (participants -> seconds); the largest tier at or below
# a class size applies.
PAGE_TARGETS_S = {300: 0.060, 1000: 0.100}
EXPORT_TARGET_S = 2.0
RATIO_TARGET = 2.0
SHORT_LOG = "Epoch 20/20 - accuracy: 0.97\n"
SLUGS = ("mlp", "cnn", "transfer")
CHECK_IDS = (
    "layers.Conv2D",
    "layers.Dropout",
    "params.max",
    "accuracy.public",
    "training.epochs",
)
LOG_LINES = [
    f"Epoch {epoch}/20\n"
    f"40/40 - 1s - 25ms/step - accuracy: 0.{60 + epoch * 2:02d}"
    f" - loss: 0.{90 - epoch * 4:02d}"
    f" - val_accuracy: 0.{58 + epoch * 2:02d} - val_loss: 0.{95 - epoch * 4:02d}\n"
    for epoch in range(1, 21)
]
LOG = "Using TensorFlow backend.\nLoading train.npz (1437 samples)\n" + "".join(
    LOG_LINES * 2
)


@dataclass(frozen=True)
class Site:
    """One seeded workshop and the people who open its pages."""

    participants: int
    workshop_slug: str
    instructor: object
    participant: object
    submissions: int


@dataclass(frozen=True)
class Page:
    name: str
    url: Callable[[Site], str]
    as_instructor: bool
    export: bool = False

    def target_s(self, participants: int) -> float:
        if self.export:
            return EXPORT_TARGET_S
        fitting = [n for n in PAGE_TARGETS_S if n <= participants] or [
            min(PAGE_TARGETS_S)
        ]
        return PAGE_TARGETS_S[max(fitting)]


def _report(rng: random.Random, kind: str, graded: bool) -> tuple[dict, list]:
    """Return a grader report shaped like GradeReport.to_dict(), and its checks."""
    public = round(rng.uniform(0.55, 0.99), 4)
    private = round(min(1.0, public + rng.uniform(-0.03, 0.02)), 4)
    checks = []
    for i, cid in enumerate(CHECK_IDS):
        passed = graded and rng.random() > 0.075 * (i + 1)
        message = "ok" if passed else f"{cid} is not met: see the assignment."
        checks.append({"id": cid, "passed": passed, "message": message})
    confusion = [
        [rng.randint(20, 30) if r == c else rng.randint(0, 3) for c in range(10)]
        for r in range(10)
    ]
    layers = [
        {
            "name": name,
            "type": layer,
            "output_shape": [None, *shape],
            "params": params,
            "trainable": True,
        }
        for name, layer, shape, params in (
            ("conv2d", "Conv2D", [8, 8, 16], 160),
            ("max_pooling2d", "MaxPooling2D", [4, 4, 16], 0),
            ("conv2d_1", "Conv2D", [4, 4, 32], 4640),
            ("flatten", "Flatten", [128], 0),
            ("dropout", "Dropout", [128], 0),
            ("dense", "Dense", [64], 8256),
            ("dense_1", "Dense", [10], 650),
        )
    ]
    score = round(100 * public * (sum(c["passed"] for c in checks) / 5), 2)
    epochs = range(10)
    report = {
        "status": "graded" if graded else "failed",
        "reason": "" if graded else "The model's output shape is (None, 9).",
        "kind": kind,
        "public_accuracy": public if graded else None,
        "private_accuracy": private if graded else None,
        "per_class_accuracy": [round(rng.uniform(0.5, 1), 3) for _ in range(10)],
        "confusion_matrix": confusion,
        "params_total": 13706,
        "params_trainable": 13706,
        "layers": layers,
        "checks": checks,
        "score": score if graded else 0.0,
        "private_score": score if graded else 0.0,
        "max_score": 100.0,
        "history": {
            "loss": [round(1.5 / (e + 1), 4) for e in epochs],
            "val_loss": [round(1.6 / (e + 1), 4) for e in epochs],
            "accuracy": [round(public * (e + 1) / 10, 4) for e in epochs],
            "val_accuracy": [round(public * (e + 0.8) / 10, 4) for e in epochs],
        },
        "grader_version": "1.0.0",
        "spec_version": 1,
    }
    return report, checks


SHORT_REPORT = (
    "status",
    "reason",
    "kind",
    "public_accuracy",
    "private_accuracy",
    "checks",
    "score",
    "private_score",
    "max_score",
    "grader_version",
    "spec_version",
)


def seed(*, participants: int, submissions: int, prefix: str, seed_value: int) -> Site:
    """Seed one workshop with bulk inserts; return it with its two viewers."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.db.models import OuterRef, Subquery
    from django.utils import timezone

    from submissions.models import Grade, Run, Status, Submission
    from submissions.services.standings import standings_rebuild
    from workshops.models import Assignment, Enrollment, Workshop

    user_model = get_user_model()
    rng = random.Random(seed_value)
    now = timezone.now()
    start = now - datetime.timedelta(hours=3)
    with transaction.atomic():
        workshop = Workshop.objects.create(
            title=f"Bench {participants}", slug=f"{prefix}-bench", pack="dl101"
        )
        users = user_model.objects.bulk_create(
            [user_model(username=f"{prefix}-i", email=f"{prefix}-i@example.org")]
            + [
                user_model(
                    username=f"{prefix}-p{i:04d}", email=f"{prefix}-p{i:04d}@x.org"
                )
                for i in range(participants)
            ],
            batch_size=BATCH_SIZE,
        )
        instructor, people = users[0], users[1:]
        Enrollment.objects.bulk_create(
            [
                Enrollment(
                    user=instructor,
                    workshop=workshop,
                    role=Enrollment.Role.INSTRUCTOR,
                )
            ]
            + [Enrollment(user=u, workshop=workshop) for u in people],
            batch_size=BATCH_SIZE,
        )
        assignments = [
            Assignment.objects.create(
                workshop=workshop,
                slug=slug,
                title=slug.upper(),
                kind=slug,
                order=order,
                instructions_md=f"# {slug}\n\nTrain a model on **8x8 digits**.\n",
                spec={"checks": {"layers": {"Conv2D": 1}}, "score": {"target": 0.9}},
                daily_limit=submissions + 10,
                deadline=now - datetime.timedelta(minutes=30),
            )
            for order, slug in enumerate(SLUGS, start=1)
        ]
        rows = []
        for user in people:
            for assignment in assignments:
                for n in range(submissions):
                    roll = rng.random()
                    status = (
                        Status.GRADED
                        if roll < 0.85
                        else Status.FAILED
                        if roll < 0.97
                        else Status.QUEUED
                    )
                    created = start + datetime.timedelta(
                        seconds=n * 300 + rng.randint(0, 280)
                    )
                    rows.append(
                        Submission(
                            participant=user,
                            assignment=assignment,
                            file=f"submissions/{assignment.pk}/{rng.getrandbits(64):016x}/train.py",
                            original_name="train.py",
                            format=Submission.Format.PY,
                            sha256=f"{rng.getrandbits(256):064x}",
                            size=2048,
                            status=status,
                            attempts=1,
                            created_at=created,
                            enqueued_at=created,
                            started_at=None if status == Status.QUEUED else created,
                            finished_at=None if status == Status.QUEUED else created,
                        )
                    )
        made = Submission.objects.bulk_create(rows, batch_size=BATCH_SIZE)
        newest = {}
        for s in made:
            newest[(s.participant_id, s.assignment_id)] = s.pk  # made in time order
        newest = set(newest.values())
        ran = [s for s in made if s.status != Status.QUEUED]
        runs = Run.objects.bulk_create(
            [
                Run(
                    submission=s,
                    kind=Run.Kind.TRAIN,
                    job_token=s.job_token,
                    queue="train-cpu",
                    host="bench-host",
                    worker="celery@bench",
                    started_at=s.created_at,
                    heartbeat_at=s.created_at,
                    finished_at=s.created_at,
                    exit_code=0,
                    outcome="ok",
                    duration_seconds=42.0,
                    log=LOG if s.pk in newest else SHORT_LOG,
                    artifact_path=f"artifacts/{s.pk}/model.keras",
                )
                for s in ran
            ],
            batch_size=BATCH_SIZE,
        )
        grades = []
        for s, run in zip(ran, runs, strict=True):
            # Most failures are graded failures; a few died in training.
            if s.status == Status.FAILED and rng.random() < 0.3:
                continue
            report, checks = _report(
                rng, s.assignment.slug, graded=s.status == Status.GRADED
            )
            if s.pk not in newest:
                report = {k: report[k] for k in SHORT_REPORT}
            grades.append(
                Grade(
                    submission=s,
                    run=run,
                    grader_version="1.0.0",
                    spec_version=1,
                    passed_checks=s.status == Status.GRADED
                    and all(c["passed"] for c in checks),
                    public_accuracy=report["public_accuracy"],
                    private_accuracy=report["private_accuracy"],
                    score=report["score"],
                    checks=checks,
                    report=report,
                    created_at=s.created_at,
                )
            )
        Grade.objects.bulk_create(grades, batch_size=BATCH_SIZE)
        Submission.objects.filter(assignment__workshop=workshop).update(
            current_grade=Subquery(
                Grade.objects.filter(submission=OuterRef("pk")).values("pk")[:1]
            )
        )
        standings_rebuild(assignments=assignments)
    return Site(
        participants=participants,
        workshop_slug=workshop.slug,
        instructor=instructor,
        participant=people[0],
        submissions=len(made),
    )


PAGES = [
    Page("leaderboard", lambda s: f"/w/{s.workshop_slug}/a/cnn/leaderboard/", True),
    Page("progress matrix", lambda s: f"/w/{s.workshop_slug}/dashboard/", True),
    Page(
        "matrix, failed",
        lambda s: f"/w/{s.workshop_slug}/dashboard/?status=failed&fragment=live",
        True,
    ),
    Page("assignment stats", lambda s: f"/w/{s.workshop_slug}/a/cnn/stats/", True),
    Page("assignment page", lambda s: f"/w/{s.workshop_slug}/a/cnn/", False),
    Page("grades CSV", lambda s: f"/w/{s.workshop_slug}/grades.csv", True, True),
]


def _get(client, url: str) -> int:
    """Request a page to its last byte; return the body's size."""
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    if response.streaming:
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def measure(sites: list[Site], page: Page, repeat: int) -> list[dict]:
    """Return, per site, the page's query count, body size and request times.

    Requests alternate between the sites (one each, in turn), so a burst of
    load from elsewhere on the machine lands on every tier alike and the
    ratios between tiers stay fair.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    runs = []
    for site in sites:
        client = Client()
        client.force_login(site.instructor if page.as_instructor else site.participant)
        url = page.url(site)
        with CaptureQueriesContext(connection) as queries:
            size = _get(client, url)
        # Count now: the next request clears the connection's query log.
        runs.append(
            {"client": client, "url": url, "queries": len(queries), "bytes": size}
        )
        for _ in range(WARMUPS - 1):
            _get(client, url)
    times: list[list[float]] = [[] for _ in sites]
    for _ in range(repeat):
        for run, spent in zip(runs, times, strict=True):
            began = time.perf_counter()
            _get(run["client"], run["url"])
            spent.append(time.perf_counter() - began)
    return [
        {"queries": run["queries"], "bytes": run["bytes"], "times": spent}
        for run, spent in zip(runs, times, strict=True)
    ]


def main(
    *, tiers: list[int], submissions: int, repeat: int, judge_times: bool = True
) -> bool:
    from django.conf import settings
    from django.db import connection

    began = time.perf_counter()
    sites = [
        seed(
            participants=n,
            submissions=submissions,
            prefix=f"t{n}",
            seed_value=i + 1,
        )
        for i, n in enumerate([BASELINE_PARTICIPANTS, *tiers])
    ]
    seeded = time.perf_counter() - began
    # A web process holds none of the seeding's objects: drop them before timing.
    gc.collect()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"database: {connection.vendor}, DEBUG={settings.DEBUG}; seeded "
        + " + ".join(str(site.submissions) for site in sites)
        + f" submissions (with runs, grades, standings) in {seeded:.1f} s; "
        f"{repeat} requests per page after {WARMUPS} warm-ups"
    )
    heads = [f"{p}@{site.participants}" for site in sites for p in PCTS]
    print(
        f"{'page':<18}" + "".join(f"{h:>10}" for h in heads) + f"{'p95 x':>7}  queries"
    )
    ok = True
    verdicts = []
    base, top = sites[0], sites[-1]
    for page in PAGES:
        results = measure(sites, page, repeat)
        p95s = [percentile(r["times"], 0.95) for r in results]
        cells = "".join(
            f"{percentile(r['times'], 0.5) * 1000:>8.1f}ms{p95 * 1000:>8.1f}ms"
            for r, p95 in zip(results, p95s, strict=True)
        )
        growth = p95s[-1] / p95s[0]
        counts = [r["queries"] for r in results]
        print(
            f"{page.name:<18}{cells}{growth:>6.1f}x  "
            + "/".join(str(c) for c in counts)
        )
        for site, p95 in zip(sites[1:], p95s[1:], strict=True):
            target = page.target_s(site.participants)
            verdicts.append(
                f"{'PASS' if p95 < target else 'FAIL'} {page.name}: p95 "
                f"{p95 * 1000:.1f} ms at {site.participants} participants = "
                f"{p95 / target:.2f} x the {target * 1000:.0f} ms target"
            )
            ok = ok and (p95 < target or not judge_times)
        if not page.export:
            verdicts.append(
                f"{'PASS' if growth < RATIO_TARGET else 'FAIL'} {page.name}: p95 "
                f"{base.participants} -> {top.participants} participants grew "
                f"{growth:.2f}x (target < {RATIO_TARGET:.0f}x)"
            )
            ok = ok and (growth < RATIO_TARGET or not judge_times)
        same = len(set(counts)) == 1
        verdicts.append(
            f"{'PASS' if same else 'FAIL'} {page.name}: queries "
            + ", ".join(
                f"{c} at {site.participants}"
                for c, site in zip(counts, sites, strict=True)
            )
        )
        ok = ok and same
    print("\n".join(verdicts))
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--participants",
        default="300,1000",
        help="Comma-separated class sizes to time against the 30 baseline.",
    )
    parser.add_argument("--submissions", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="seconds: a 40-participant tier, 3 submissions each, 3 repeats; "
        "exits 1 only if the query counts grow (times are not judged)",
    )
    args = parser.parse_args()
    if args.quick:
        args.participants, args.submissions, args.repeat = "40", 3, 3
    with test_database():
        passed = main(
            tiers=[int(n) for n in args.participants.split(",") if n.strip()],
            submissions=args.submissions,
            repeat=args.repeat,
            judge_times=not args.quick,
        )
    raise SystemExit(0 if passed else 1)
