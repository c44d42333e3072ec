"""A runner host's own network: a namespace joined to the test's by a veth pair.

The site listens on the host side (`netns["site"]`); a runner started with
`inside` runs in the namespace, with a tmpfs over the project's var/ (the
site's files are not there) and an environment holding nothing of the site's.
`link` cuts the runner's side of the pair and brings it back; `shape` slows
what the runner sends, so a test can cut it mid-upload. Where this machine
cannot make namespaces, the test fails with the reason.
"""

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.helpers import ROOT

# Nothing of the site's: no settings, database, broker or secret.
RUNNER_ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/tmp"}


def sh(*argv: str) -> None:
    """Run a namespace tool; fail the test, naming why, when it cannot."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        pytest.fail(f"Cannot make the runner's network namespace: {exc}.")
    if done.returncode != 0:
        pytest.fail(
            f"Cannot make the runner's network namespace ({' '.join(argv)}): "
            f"{done.stderr.strip() or done.stdout.strip()}. This test needs root "
            "and `ip netns` (iproute2)."
        )


@pytest.fixture
def netns() -> Iterator[dict]:
    """A network namespace joined to this one by a veth pair; yields addresses."""
    n = os.getpid() % 10000
    name, outer, inner = f"dojo-r{n}", f"dvh{n}", f"dvr{n}"
    net = f"10.231.{n % 250}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    subprocess.run(["ip", "link", "del", outer], capture_output=True)
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        sh("ip", "link", "set", inner, "netns", name)
        sh("ip", "addr", "add", f"{net}.1/30", "dev", outer)
        sh("ip", "link", "set", outer, "up")
        sh("ip", "-n", name, "addr", "add", f"{net}.2/30", "dev", inner)
        sh("ip", "-n", name, "link", "set", inner, "up")
        sh("ip", "-n", name, "link", "set", "lo", "up")
        yield {"name": name, "site": f"{net}.1", "inner": inner}
    finally:
        subprocess.run(["ip", "link", "del", outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def inside(netns: dict, script: str, *args: str, **kwargs) -> subprocess.Popen:
    """Run `sh -c script` in the runner's namespaces, var/ under a tmpfs."""
    wrapped = (
        f'mount -t tmpfs -o size=2g,mode=0755 dojo-runner-var "{ROOT}/var" && ' + script
    )
    return subprocess.Popen(
        [
            "nsenter",
            f"--net=/run/netns/{netns['name']}",
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            wrapped,
            "sh",
            *args,
        ],
        cwd=ROOT,
        env=RUNNER_ENV,
        **kwargs,
    )


def link(netns: dict, *, up: bool) -> None:
    """Cut the runner's side of the pair (nothing passes), or bring it back."""
    sh("ip", "-n", netns["name"], "link", "set", netns["inner"], "up" if up else "down")


def shape(netns: dict, *, rate: str | None) -> None:
    """Hold what the runner sends to `rate` (a tc rate: "2mbit"), or lift it."""
    if rate is None:
        sh("tc", "-n", netns["name"], "qdisc", "del", "dev", netns["inner"], "root")
        return
    sh(
        "tc", "-n", netns["name"], "qdisc", "add", "dev", netns["inner"], "root",
        "tbf", "rate", rate, "burst", "16kb", "latency", "200ms",
    )  # fmt: skip
