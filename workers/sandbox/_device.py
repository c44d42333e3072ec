"""The device a job really trained on, as seen from inside its sandbox.

The report comes from the job's own process (it is not taken from settings), so
it says "CPU" when a GPU job's backend could not reach the card. It is written by
code the participant's script runs beside: treat it as hostile and bound it.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

REPORT_MAX_BYTES = 4096

# Runs inside the sandbox (python -c), after Keras' backend is imported.
DETECT = r"""
def _dojo_device(load=False):
    import os, sys
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    module = {"torch": "torch", "jax": "jax"}.get(backend, "tensorflow")
    if module not in sys.modules and not load:
        return {"backend": backend, "on_gpu": None, "name": ""}
    on_gpu, name = False, "CPU"
    try:
        if module == "torch":
            import torch
            if torch.cuda.is_available():
                on_gpu, name = True, torch.cuda.get_device_name(0)
        elif module == "jax":
            import jax
            dev = jax.devices()[0]
            if dev.platform in ("gpu", "cuda", "rocm"):
                on_gpu, name = True, dev.device_kind
        else:
            import tensorflow as tf
            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                on_gpu, name = True, details.get("device_name", "GPU")
    except Exception as exc:
        name = "CPU (" + type(exc).__name__ + ": " + str(exc)[:200] + ")"
    return {"backend": backend, "on_gpu": on_gpu, "name": name}
"""

# Prints one JSON line: what the configured backend sees (the worker's start probe).
PROBE = DETECT + "\nimport json\nprint('DOJO-DEVICE', json.dumps(_dojo_device(True)))\n"

# Runs the participant's script as __main__, then writes the device report.
RUNNER = (
    DETECT
    + r"""
import json, os, runpy, sys
sys.argv = sys.argv[1:]
sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    raise
except BaseException as exc:
    # The traceback a participant reads starts at their own code: the frames
    # of this runner and of runpy come first and are none of their business.
    import traceback

    def _own(error, top):
        frames = list(error.stack)
        while top and frames and frames[0].filename != sys.argv[0]:
            frames.pop(0)
        for frame in frames:
            if frame.filename == sys.argv[0]:
                frame.line  # read the source line before the path is shortened
                frame.filename = os.path.basename(sys.argv[0])
        error.stack = traceback.StackSummary.from_list(frames)
        for nested in (error.__cause__, error.__context__):
            if nested is not None:
                _own(nested, False)

    error = traceback.TracebackException.from_exception(exc)
    _own(error, True)
    sys.stderr.write("".join(error.format()))
    raise SystemExit(1) from None
finally:
    try:
        with open(os.environ["DOJO_DEVICE_REPORT"], "w") as out:
            json.dump(_dojo_device(), out)
    except Exception:
        pass
"""
)


@dataclass(frozen=True)
class DeviceReport:
    """What a job's backend trained on: ``on_gpu`` None when it never loaded."""

    backend: str
    on_gpu: bool | None
    name: str


def runner_argv(script: str) -> list[str]:
    """Return argv that runs ``script`` and leaves a device report behind."""
    return ["python", "-c", RUNNER, script]


def _clean(value: object, limit: int) -> str:
    text = value if isinstance(value, str) else ""
    return re.sub(r"[^\w .,:;()+/@-]", "", text)[:limit].strip()


def parse_device(data: object) -> DeviceReport | None:
    """Validate a decoded report; None unless it has the expected shape."""
    if not isinstance(data, dict):
        return None
    on_gpu = data.get("on_gpu")
    if on_gpu not in (True, False, None):
        return None
    return DeviceReport(
        backend=_clean(data.get("backend"), 16),
        on_gpu=on_gpu,
        name=_clean(data.get("name"), 60) if on_gpu is not None else "",
    )


def read_device_report(path: Path) -> DeviceReport | None:
    """Read a job's report, never following a link and never past 4 KB."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        raw = os.read(fd, REPORT_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > REPORT_MAX_BYTES:
        return None
    try:
        return parse_device(json.loads(raw))
    except ValueError:
        return None


def probe_line(log: str) -> DeviceReport | None:
    """Return the report a PROBE printed, from the end of its log."""
    for line in reversed(log.splitlines()):
        if line.startswith("DOJO-DEVICE "):
            try:
                return parse_device(json.loads(line[len("DOJO-DEVICE ") :]))
            except ValueError:
                return None
    return None


def gpu_devices(
    device_index: int, *, dev_root: Path = Path("/dev")
) -> tuple[dict[str, str], list[str]]:
    """Return the env and device nodes that give a job GPU ``device_index`` only.

    Memory growth is switched on so several slots can share one card (a hint the
    job can ignore: only MPS's pinned memory limit is a cap).
    """
    env = {
        "CUDA_VISIBLE_DEVICES": str(device_index),
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }
    names = [f"nvidia{device_index}", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"]
    devices = [str(dev_root / n) for n in names if (dev_root / n).exists()]
    return env, devices
