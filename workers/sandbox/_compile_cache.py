"""A persistent JAX compilation cache that jobs read but cannot poison.

Per assignment and backend, one folder is filled by the platform (a reference
run with the folder bound writable); every participant's job gets it bound
read-only, so its compiled programs load from disk and nothing a job does can
change what the next job loads. JAX only warns when it cannot write an entry.
"""

from __future__ import annotations

from pathlib import Path

from ._limits import Bind

CACHE_TARGET = "/opt/dojo/jax-cache"

# Set when a job's sandbox starts (a spare's too): GPU context made before the
# job arrives. Each line fails quietly where the backend has no GPU.
CUDA_PRELUDE = {
    "torch": (
        "import torch\nif torch.cuda.is_available(): torch.zeros(1, device='cuda')"
    ),
    "jax": "import jax\njax.device_put(0).block_until_ready()",
    "tensorflow": "import tensorflow as tf\ntf.zeros(1)",
}


def compile_cache(
    folder: Path, *, backend: str, writable: bool = False
) -> tuple[list[Bind], dict[str, str]]:
    """Return the binds and env that give a job the cache in ``folder``.

    Only the JAX backend has one; other backends get nothing. ``writable`` is
    for the platform's own reference run, never for a participant's job.
    """
    if backend != "jax":
        return [], {}
    env = {
        "JAX_COMPILATION_CACHE_DIR": CACHE_TARGET,
        # Cache every program: DL101 models compile in well under a second each.
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    return [Bind(Path(folder), CACHE_TARGET, writable=writable)], env
