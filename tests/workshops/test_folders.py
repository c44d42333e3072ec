"""Data built once per content key, by one builder at a time."""

import threading
import time

from workshops.folders import cached_build


def test_builders_of_one_key_at_once_take_turns_and_build_it_once(settings, tmp_path):
    """Two processes preparing the same pack at once (two workers, two test
    processes) once raced: each removed or replaced the other's half-written
    files. The second now waits and reuses what the first built."""
    settings.DOJO_DATA_CACHE_ROOT = str(tmp_path / "cache")
    builds: list[str] = []
    started = threading.Barrier(2)

    def build(folder):
        builds.append(threading.current_thread().name)
        (folder / "train.npz.tmp").write_bytes(b"x" * 1000)
        time.sleep(0.3)  # the other caller arrives while this one builds
        (folder / "train.npz.tmp").rename(folder / "train.npz")

    found = {}

    def ask(name):
        started.wait()
        found[name] = cached_build("dataset-k", build)

    threads = [threading.Thread(target=ask, args=(n,), name=n) for n in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(builds) == 1
    assert found["a"] == found["b"]
    assert (found["a"] / "train.npz").read_bytes() == b"x" * 1000
    assert (found["a"] / ".complete").is_file()
    # Later callers reuse it without building.
    assert cached_build("dataset-k", build) == found["a"]
    assert len(builds) == 1
