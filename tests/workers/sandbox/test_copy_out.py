"""Files a job leaves behind are copied out only when they are plain files."""

import os
from pathlib import Path

from workers.sandbox import copy_out


def test_regular_file_is_copied(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.keras").write_bytes(b"model")
    target = tmp_path / "keep" / "model.keras"
    assert copy_out(tmp_path / "out", "model.keras", target, max_bytes=100)
    assert target.read_bytes() == b"model"


def test_symlink_to_a_host_file_is_refused(tmp_path: Path) -> None:
    """A job cannot make the worker copy a host secret into its artifacts."""
    (tmp_path / "out").mkdir()
    secret = tmp_path / "hidden-test.npz"
    secret.write_bytes(b"labels")
    (tmp_path / "out" / "model.keras").symlink_to(secret)
    assert not copy_out(tmp_path / "out", "model.keras", tmp_path / "k", max_bytes=99)
    assert not (tmp_path / "k").exists()


def test_output_folder_replaced_by_a_symlink_is_refused(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "model.keras").write_bytes(b"host file")
    (tmp_path / "out").symlink_to(host)
    assert not copy_out(tmp_path / "out", "model.keras", tmp_path / "k", max_bytes=99)


def test_fifo_and_oversized_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    os.mkfifo(tmp_path / "out" / "model.keras")
    assert not copy_out(tmp_path / "out", "model.keras", tmp_path / "k", max_bytes=99)
    (tmp_path / "out" / "big.keras").write_bytes(b"x" * 100)
    assert not copy_out(tmp_path / "out", "big.keras", tmp_path / "k", max_bytes=99)
