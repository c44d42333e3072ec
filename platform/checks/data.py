"""The data a check run sees, cut from the assignment's splits and kept on disk.

The check slice lives beside the assignment's data, in a folder named after the
versions of the files it was cut from and the slice sizes, so new data (an
instructor's upload) gives a new slice and two workers never write the same
folder: each writes a temporary one and renames it into place.
"""

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from assignments import datasets
from workers.sandbox import remove_tree
from workshops import folders

TRAIN_NAME = "train.npz"
PUBLIC_NAME = "public_sample.npz"


class CheckDataMissing(Exception):
    """The assignment has no data to check against (a platform problem)."""


@dataclass(frozen=True)
class CheckData:
    """Host paths: `train_dir` is bound as the training sandbox's /data."""

    train_dir: Path
    public_sample: Path
    train_count: int
    public_count: int
    train_total: int  # the assignment's whole training set

    def training_slice(self, noun: str = "images") -> str:
        """Say which training examples (``noun``) a check trains on, as a
        participant reads it."""
        if self.train_count >= self.train_total:
            return f"all {self.train_count:,} training {noun}"
        return f"{self.train_count:,} of the {self.train_total:,} training {noun}"


def _version(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError as exc:
        raise CheckDataMissing(f"{path.name} is missing") from exc
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"


def check_data_prepare(*, assignment_id: int) -> CheckData:
    """Return the assignment's check slice, cutting it first when it is missing."""
    train_src = folders.assignment_train_dir(assignment_id)
    hidden_src = folders.assignment_hidden_dir(assignment_id) / "test.npz"
    train_per_class = settings.DOJO_CHECK_TRAIN_PER_CLASS
    public_per_class = settings.DOJO_CHECK_PUBLIC_PER_CLASS
    extras = sorted(
        p for p in train_src.glob("*") if p.is_file() and p.name != TRAIN_NAME
    )
    key = "|".join(
        [
            _version(train_src / TRAIN_NAME),
            _version(hidden_src),
            *(_version(p) for p in extras),
            f"{train_per_class}/{public_per_class}",
            # done.json's layout: a slice cut before it held three counts is recut.
            "counts:train,public,train_total",
        ]
    )
    root = folders.assignment_dir(assignment_id) / "check"
    final = root / hashlib.sha256(key.encode()).hexdigest()[:16]
    if not (final / "done.json").is_file():
        _cut(
            final=final,
            train_src=train_src,
            hidden_src=hidden_src,
            extras=extras,
            train_per_class=train_per_class,
            public_per_class=public_per_class,
        )
    counts = (final / "done.json").read_text().split()
    return CheckData(
        train_dir=final / "train",
        public_sample=final / "public" / PUBLIC_NAME,
        train_count=int(counts[0]),
        public_count=int(counts[1]),
        train_total=int(counts[2]),
    )


def _cut(
    *,
    final: Path,
    train_src: Path,
    hidden_src: Path,
    extras: list[Path],
    train_per_class: int,
    public_per_class: int,
) -> None:
    with np.load(train_src / TRAIN_NAME, allow_pickle=False) as train:
        x_train, y_train = train["x"], train["y"]
    # Only the public half is read: the private one never reaches a check.
    with np.load(hidden_src, allow_pickle=False) as hidden:
        x_public, y_public = hidden["x_public"], hidden["y_public"]
    part = datasets.check_slice(
        x_train=x_train,
        y_train=y_train,
        x_public=x_public,
        y_public=y_public,
        train_per_class=train_per_class,
        public_per_class=public_per_class,
    )
    tmp = final.with_name(f".{final.name}-{uuid.uuid4().hex[:8]}")
    (tmp / "train").mkdir(parents=True)
    (tmp / "public").mkdir()
    try:
        np.savez(tmp / "train" / TRAIN_NAME, x=part.x_train, y=part.y_train)
        # The grader reads a public and a private half; both are the public
        # sample here, and only the public figure is shown.
        np.savez(
            tmp / "public" / PUBLIC_NAME,
            x_public=part.x_public,
            y_public=part.y_public,
            x_private=part.x_public,
            y_private=part.y_public,
        )
        for extra in extras:  # the transfer assignment's base.keras
            shutil.copyfile(extra, tmp / "train" / extra.name)
        for folder in (tmp, tmp / "train", tmp / "public"):
            os.chmod(folder, 0o755)
        (tmp / "done.json").write_text(
            f"{len(part.y_train)} {len(part.y_public)} {len(y_train)}\n"
        )
        try:
            tmp.rename(final)
        except OSError:
            if not (final / "done.json").is_file():
                raise
    finally:
        if tmp.exists():
            remove_tree(tmp)
