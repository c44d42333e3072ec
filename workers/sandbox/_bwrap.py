"""The "bwrap" backend: bubblewrap namespaces, a dedicated uid, cgroups, rlimits."""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._cgroup import job_cgroups
from ._launch import Launch, cgroup_prefix, is_root, job_env, prlimit_prefix
from ._limits import Bind, SandboxError, SandboxLimits, SandboxUnavailable
from ._quota import mount_work_dir
from ._seccomp import filter_fd

INSTALL_HINT = (
    "Install it with `apt-get install bubblewrap` (Debian/Ubuntu), or run this "
    "worker with the 'local' backend on a development machine (no isolation)."
)

# Only what Python, its C libraries and TensorFlow read from /etc; no passwd,
# shadow, hostname or machine secrets.
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "nsswitch.conf",
    "host.conf",
    "hosts",
    "alternatives",
    "ssl",
    "fonts",
    "mime.types",
)


def runtime_paths() -> list[str]:
    """Return the host paths that hold the Python runtime, outside /usr."""
    candidates = {
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
        sys.base_exec_prefix,
        str(Path(os.path.realpath(sys.executable)).parent.parent),
    }
    candidates |= {os.path.realpath(p) for p in candidates}
    kept: list[str] = []
    for path in sorted(candidates):
        if path in ("/", "/usr") or path.startswith("/usr/"):
            continue
        if any(Path(path).is_relative_to(k) for k in kept):
            continue
        kept.append(path)
    return kept


def blocked_for(
    path: Path | str, *, uid: int, gid: int, write: bool = False
) -> str | None:
    """Return the first path component ``uid`` cannot traverse or use, or None."""
    path = Path(os.path.realpath(path))
    parts = [*reversed(path.parents), path]
    for i, part in enumerate(parts):
        try:
            st = part.stat()
        except OSError:
            return str(part)
        if st.st_uid == uid:
            bits = (st.st_mode >> 6) & 7
        elif st.st_gid == gid:
            bits = (st.st_mode >> 3) & 7
        else:
            bits = st.st_mode & 7
        last = i == len(parts) - 1
        needed = 1 if stat.S_ISDIR(st.st_mode) else 0
        if last:
            needed |= 2 if write else 4
        if bits & needed != needed:
            mode = stat.S_IMODE(st.st_mode)
            return f"{part} (mode {mode:04o}, owner uid {st.st_uid})"
    return None


def _uid_prefix(uid: int) -> list[str]:
    if not is_root():
        return []
    # bwrap --uid as root maps the sandbox user to host root; drop for real first.
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
    ]


def bwrap_args(
    *,
    work_dir: Path,
    binds: Sequence[Bind],
    env: Mapping[str, str],
    devices: Sequence[str],
    chdir: str | None,
    tmp_bytes: int,
    seccomp_fd: int | None,
) -> list[str]:
    """Return the bwrap command line up to (and including) the ``--`` separator.

    The job cannot make user namespaces (``--disable-userns``) and runs under
    the seccomp program read from ``seccomp_fd`` (see ``_seccomp``).
    """
    args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns"]
    args += ["--die-with-parent", "--new-session"]
    args += ["--cap-drop", "ALL", "--hostname", "dojo", "--clearenv"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "lib32", "bin", "sbin"):
        host = Path("/", name)
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.exists():
            args += ["--ro-bind", str(host), str(host)]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for device in devices:
        args += ["--dev-bind", device, device]
    # Sized, and charged to the job's memory cgroup like any page it writes.
    args += ["--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    args += ["--size", str(tmp_bytes), "--tmpfs", "/dev/shm"]
    for path in runtime_paths():
        args += ["--ro-bind", path, path]
    args += ["--bind", str(work_dir), str(work_dir)]
    for bind in binds:
        kind = "--bind" if bind.writable else "--ro-bind"
        args += [kind, str(bind.source), bind.target]
    # Everything not bound writable (the root, /etc, the parents of the binds)
    # becomes read-only, so writes outside the work dir and /tmp fail with EROFS.
    args += ["--remount-ro", "/", "--chdir", chdir or str(work_dir), "--"]
    return args


def _chown_tree(root: Path, uid: int) -> None:
    os.lchown(root, uid, uid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, uid)


def _check_binds(binds: Sequence[Bind], *, uid: int) -> None:
    for bind in binds:
        if not Path(bind.source).exists():
            raise SandboxError(f"Bind source does not exist: {bind.source}")
        if is_root():
            blocker = blocked_for(bind.source, uid=uid, gid=uid, write=bind.writable)
            if blocker:
                verb = "write" if bind.writable else "read"
                raise SandboxError(
                    f"The sandbox uid {uid} cannot {verb} {bind.source}: blocked at "
                    f"{blocker}. Make it readable (chmod o+rX) or chown it to {uid}."
                )


def build_bwrap(
    argv: list[str],
    *,
    work_dir: Path,
    binds: Sequence[Bind],
    env: Mapping[str, str] | None,
    limits: SandboxLimits,
    devices: Sequence[str],
    chdir: str | None,
    uid: int,
) -> Launch:
    """Plan a job under bubblewrap, as ``uid`` and in fresh cgroups when root."""
    _check_binds(binds, uid=uid)
    cgroups = None
    mounted = False
    if is_root():
        mounted = mount_work_dir(work_dir, limits=limits, uid=uid)
        _chown_tree(work_dir, uid)
        blocker = blocked_for(work_dir, uid=uid, gid=uid, write=True)
        if blocker:
            raise SandboxError(
                f"The sandbox uid {uid} cannot reach the work directory {work_dir}: "
                f"blocked at {blocker}. Put work directories under a path every "
                "uid can traverse (mode 0755 parents)."
            )
        cgroups = job_cgroups(
            memory_bytes=limits.memory_bytes,
            max_processes=limits.max_processes,
            cpus=limits.cpus,
        )
    nproc_uid = uid if is_root() else os.getuid()
    inner_env = job_env(home="/tmp", env=env)
    seccomp_fd = filter_fd()
    full = [
        *cgroup_prefix(cgroups),
        *prlimit_prefix(
            limits=limits, cgroups=cgroups, nproc_uid=nproc_uid, gpu=bool(devices)
        ),
        *_uid_prefix(uid),
        *bwrap_args(
            work_dir=work_dir,
            binds=binds,
            env=inner_env,
            devices=devices,
            chdir=chdir,
            tmp_bytes=limits.tmp_bytes,
            seccomp_fd=seccomp_fd,
        ),
        *argv,
    ]
    outer_env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    return Launch(
        argv=full,
        env=outer_env,
        cwd="/",
        backend="bwrap",
        cgroups=cgroups,
        pass_fds=(seccomp_fd,),
        quota_mounted=mounted,
    )


@functools.cache
def check_bwrap(uid: int) -> None:
    """Raise SandboxUnavailable unless a bwrap job can start Python as ``uid``."""
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed. {INSTALL_HINT}")
    if is_root():
        if shutil.which("setpriv") is None:
            raise SandboxUnavailable(
                "setpriv is missing: install util-linux (`apt-get install util-linux`)."
            )
        for path in [sys.executable, *runtime_paths()]:
            blocker = blocked_for(path, uid=uid, gid=uid)
            if blocker:
                raise SandboxUnavailable(
                    f"The Python runtime at {path} cannot be read by the sandbox uid "
                    f"{uid}: blocked at {blocker}. Make the virtualenv from a Python "
                    "outside /root (e.g. `/usr/bin/python3 -m venv /opt/dojo/venv`), "
                    "or set DOJO_SANDBOX_UID to a uid that can read it."
                )
    with tempfile.TemporaryDirectory(prefix="dojo-probe-") as tmp:
        work_dir = Path(tmp)
        if is_root():
            os.chown(work_dir, uid, uid)
        try:
            seccomp_fd = filter_fd()
        except (OSError, ImportError) as exc:
            raise SandboxUnavailable(
                f"The seccomp filter cannot be built: {exc}. Install libseccomp2 "
                "(`apt-get install libseccomp2`) and the pinned `pyseccomp`."
            ) from exc
        argv = [
            *_uid_prefix(uid),
            *bwrap_args(
                work_dir=work_dir,
                binds=(),
                env={},
                devices=(),
                chdir=None,
                tmp_bytes=SandboxLimits().tmp_bytes,
                seccomp_fd=seccomp_fd,
            ),
            sys.executable,
            "-c",
            "import encodings, json",
        ]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        try:
            probe = subprocess.run(
                argv,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                cwd="/",
                pass_fds=(seccomp_fd,),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bwrap could not be started: {exc}") from exc
        finally:
            os.close(seccomp_fd)
    if probe.returncode != 0:
        detail = (probe.stderr or probe.stdout).strip()[-500:]
        raise SandboxUnavailable(
            f"bwrap is installed but cannot start a sandbox here: {detail}. It needs "
            "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 "
            "and user.max_user_namespaces > 0; in Docker, run the worker with "
            "--security-opt seccomp=unconfined --security-opt apparmor=unconfined)."
        )
