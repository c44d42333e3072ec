"""Workspace speed: editor typeable after load, a keystroke saved on the server,
and a room typing at once.

1. Browser (Playwright on Debian's chromium): open the MLP assignment and time
   until a typed character is in the editor (target p95 1.5 s); type a token and
   time until the server's draft holds it (target p95 3 s; 2 s of that is the
   autosave's wait for typing to stop).
2. Room typing: N participants (default 100) each save their draft every 2 s
   (50 saves a second) for S seconds (default 120) through the site's JSON
   endpoint, while one participant reads the leaderboard and an instructor the
   dashboard. Reports save p95 (target 300 ms), the pages' p95 (target 300 ms),
   5xx answers (target 0) and lost versions (target 0: each draft ends with the
   last text its participant saw acknowledged, its revision equal to the saves).
   The idle baseline is one participant saving alone, measured first in the same
   run; ratios are printed against it and against the targets.

By default the site is started here: a throwaway test database (SQLite, or
DATABASE_URL), gunicorn with the Dockerfile's 3 workers. Or point it at a
running site whose participants sign up and join with a join code:

    .venv/bin/python bench/workspace.py [--quick]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/workspace.py
    .venv/bin/python bench/workspace.py --base-url http://127.0.0.1:8000 \\
        --join-code ABCD1234 --workshop dl101 [--instructor ines:pass]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import threading
import time
import uuid

import requests
from _site import ROOT, free_port, percentile, test_database

TARGETS = {
    "typeable": 1.5,
    "keystroke saved": 3.0,
    "save": 0.300,
    "leaderboard": 0.300,
    "dashboard": 0.300,
}
PASSWORD = "bench-pass-123"


class Client:
    """One person's session on the site (cookie, CSRF token)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def login(self, username: str, password: str) -> None:
        self.session.get(f"{self.base}/accounts/login/", timeout=30)
        response = self.session.post(
            f"{self.base}/accounts/login/",
            data={"username": username, "password": password},
            headers={"X-CSRFToken": self.csrf, "Referer": f"{self.base}/"},
            timeout=30,
        )
        assert "sessionid" in self.session.cookies, f"login failed ({username})"
        assert response.status_code < 400

    def signup_and_join(self, username: str, code: str) -> None:
        self.session.get(f"{self.base}/accounts/signup/", timeout=30)
        self.session.post(
            f"{self.base}/accounts/signup/",
            data={"username": username, "password1": PASSWORD, "password2": PASSWORD},
            headers={"X-CSRFToken": self.csrf, "Referer": f"{self.base}/"},
            timeout=30,
        )
        self.login(username, PASSWORD)
        self.session.post(
            f"{self.base}/join/{code}/",
            data={"join_code": code},
            headers={"X-CSRFToken": self.csrf, "Referer": f"{self.base}/"},
            timeout=30,
        )

    @property
    def csrf(self) -> str:
        return self.session.cookies.get("csrftoken", "")

    def save(self, url: str, text: str, base: int) -> requests.Response:
        return self.session.post(
            self.base + url,
            json={"text": text, "base": base, "reason": "edit"},
            headers={"X-CSRFToken": self.csrf, "Referer": f"{self.base}/"},
            timeout=30,
        )


class Typist(threading.Thread):
    """A participant who saves a growing draft every few seconds."""

    def __init__(self, client: Client, url: str, every: float, until: float) -> None:
        super().__init__(daemon=True)
        self.client, self.url, self.every, self.until = client, url, every, until
        self.latencies: list[float] = []
        self.server_errors = self.refused = self.revision = self.saves = 0
        self.last_text = ""

    def run(self) -> None:
        text = f"# draft of a bench typist\nx = 0\n{uuid.uuid4().hex}\n"
        state = self.client.session.get(self.client.base + self.url, timeout=30)
        self.revision = state.json()["revision"]
        time.sleep(random.uniform(0, self.every))
        while time.monotonic() < self.until:
            started = time.monotonic()
            text += f"x = {self.saves + 1}  # typed\n"
            try:
                response = self.client.save(self.url, text, self.revision)
            except requests.RequestException:
                self.server_errors += 1
                continue
            self.latencies.append(time.monotonic() - started)
            if response.status_code >= 500:
                self.server_errors += 1
            elif response.status_code != 200:
                self.refused += 1
            else:
                self.revision = response.json()["revision"]
                self.last_text = text
                self.saves += 1
            time.sleep(max(0.0, self.every - (time.monotonic() - started)))


def _read_pages(client: Client, url: str, until: float, out: list[float]) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        response = client.session.get(client.base + url, timeout=30)
        out.append(time.monotonic() - started)
        assert response.status_code == 200, (url, response.status_code)
        time.sleep(0.5)


def room_typing(site: dict, participants: int, seconds: float, every: float) -> dict:
    """Run the room; return latencies, errors and lost versions."""
    draft = site["draft_url"]
    # Baseline: one participant alone, same endpoint, same process.
    alone = Typist(site["clients"][0], draft, 0.2, time.monotonic() + min(seconds, 5))
    alone.run()
    until = time.monotonic() + seconds
    typists = [Typist(c, draft, every, until) for c in site["clients"][:participants]]
    pages: dict[str, list[float]] = {"leaderboard": [], "dashboard": []}
    readers = [
        threading.Thread(
            target=_read_pages,
            args=(
                site["clients"][0],
                site["leaderboard_url"],
                until,
                pages["leaderboard"],
            ),
            daemon=True,
        )
    ]
    if site.get("instructor"):
        readers.append(
            threading.Thread(
                target=_read_pages,
                args=(
                    site["instructor"],
                    site["dashboard_url"],
                    until,
                    pages["dashboard"],
                ),
                daemon=True,
            )
        )
    for thread in [*typists, *readers]:
        thread.start()
    for thread in [*typists, *readers]:
        thread.join()
    lost = 0
    for typist in typists:
        state = typist.client.session.get(typist.client.base + draft, timeout=30).json()
        if state["text"] != typist.last_text:
            lost += 1
    saves = [x for t in typists for x in t.latencies]
    return {
        "alone": alone.latencies,
        "saves": saves,
        "count": sum(t.saves for t in typists),
        "server_errors": sum(t.server_errors for t in typists),
        "refused": sum(t.refused for t in typists),
        "lost": lost,
        **pages,
    }


def browser_metrics(site: dict, repeat: int) -> dict:
    """Time 'typeable after load' and 'keystroke saved' in a real browser."""
    from playwright.sync_api import sync_playwright

    typeable, saved = [], []
    client = site["clients"][-1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        context = browser.new_context()
        base = client.base
        host = base.split("://", 1)[1].split(":")[0].split("/")[0]
        context.add_cookies(
            [
                {"name": k, "value": v, "domain": host, "path": "/"}
                for k, v in client.session.cookies.items()
            ]
        )
        page = context.new_page()
        for _ in range(repeat):
            page.goto(base + site["assignment_url"], wait_until="commit")
            page.locator(".cm-content").click()
            page.keyboard.press("Control+End")
            page.keyboard.type("z")
            page.wait_for_function(
                "() => document.querySelector('[data-workspace]').editor"
                ".getText().endsWith('z')"
            )
            typeable.append(page.evaluate("() => performance.now()") / 1000)
            token = uuid.uuid4().hex[:8]
            page.keyboard.type(f"\n# {token}\n")
            started = time.monotonic()
            while token not in client.session.get(base + site["draft_url"]).text:
                time.sleep(0.05)
                if time.monotonic() - started > 30:
                    raise AssertionError("the keystroke never reached the server")
            saved.append(time.monotonic() - started)
        browser.close()
    return {"typeable": typeable, "keystroke saved": saved}


@contextlib.contextmanager
def local_site(participants: int):
    """Seed a throwaway database and serve it with gunicorn (3 workers)."""
    with test_database():
        from django.db import connection

        from accounts.services import user_ensure
        from workshops.services import enrollment_add, workshop_load_pack

        workshop = workshop_load_pack(path=ROOT / "assignments" / "dl101")
        users = []
        for i in range(participants + 1):
            user = user_ensure(username=f"typist{i:03d}", password=PASSWORD)
            enrollment_add(workshop=workshop, user=user)
            users.append(user.username)
        user_ensure(username="teacher", password=PASSWORD)
        enrollment_add(
            workshop=workshop,
            user=user_ensure(username="teacher", password=PASSWORD),
            role="instructor",
        )
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'platform'}{os.pathsep}{ROOT}",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DOJO_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        }
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        connection.close()
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", "3", "--log-level", "warning",
             # Import once before forking: a busy machine's first request would
             # otherwise pass gunicorn's 30 s worker timeout while importing.
             "--preload", "--timeout", "120"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{base}/accounts/login/", timeout=2).ok:
                        break
                time.sleep(0.2)
            yield base, workshop.slug, users, ("teacher", PASSWORD)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def build_site(base: str, workshop: str, users: list[str], teacher, code: str = ""):
    clients = []
    for name in users:
        client = Client(base)
        if code:
            client.signup_and_join(name, code)
        else:
            client.login(name, PASSWORD)
        clients.append(client)
    instructor = None
    if teacher:
        instructor = Client(base)
        instructor.login(*teacher)
    a = f"/w/{workshop}/a/mlp/"
    return {
        "clients": clients,
        "instructor": instructor,
        "assignment_url": a,
        "draft_url": f"{a}draft/",
        "leaderboard_url": f"{a}leaderboard/",
        "dashboard_url": f"/w/{workshop}/dashboard/",
    }


def report(name: str, values: list[float], baseline: float | None = None) -> None:
    if not values:
        print(f"{name:<18} no samples")
        return
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    line = (
        f"{name:<18} n={len(values):<5} p50 {p50 * 1000:7.1f} ms  p95 "
        f"{p95 * 1000:7.1f} ms  p95/target {p95 / TARGETS[name]:5.2f}"
    )
    if baseline:
        line += f"  p95/alone {p95 / baseline:5.2f}"
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=10, help="browser loads")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--base-url", default="")
    parser.add_argument("--join-code", default="")
    parser.add_argument("--workshop", default="dl101")
    parser.add_argument("--instructor", default="", help="user:password")
    args = parser.parse_args()
    if args.quick:
        args.participants, args.seconds, args.repeat = 5, 4.0, 2
    if args.base_url:
        run_id = uuid.uuid4().hex[:6]
        users = [f"bench{run_id}{i:03d}" for i in range(args.participants + 1)]
        teacher = tuple(args.instructor.split(":", 1)) if args.instructor else None
        site = build_site(args.base_url.rstrip("/"), args.workshop, users, teacher,
                          code=args.join_code)  # fmt: skip
        return run(site, args)
    with local_site(args.participants) as (base, slug, users, teacher):
        return run(build_site(base, slug, users, teacher), args)


def run(site: dict, args) -> int:
    print(
        f"room typing: {args.participants} participants, a save every {args.every:g} s"
        f" each, {args.seconds:g} s"
    )
    room = room_typing(site, args.participants, args.seconds, args.every)
    alone = percentile(room["alone"], 0.95) if room["alone"] else None
    report("save", room["saves"], alone)
    print(f"{'':<18} alone p95 {alone * 1000 if alone else 0:.1f} ms (baseline)")
    report("leaderboard", room["leaderboard"])
    report("dashboard", room["dashboard"])
    rate = room["count"] / args.seconds
    print(
        f"saves {room['count']} ({rate:.1f}/s)  5xx {room['server_errors']}  "
        f"refused {room['refused']}  lost versions {room['lost']}"
    )
    if not args.no_browser:
        metrics = browser_metrics(site, args.repeat)
        report("typeable", metrics["typeable"])
        report("keystroke saved", metrics["keystroke saved"])
    return 1 if room["server_errors"] or room["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
