"""Batch mode isolates each model; the CLI needs only grader/ on PYTHONPATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from grader import BatchItem, grade, grade_batch

from .conftest import load_spec, spec_file

REPO = Path(__file__).resolve().parents[2]


def test_batch_grades_all_around_a_broken_model(
    good_mlp: Path, good_cnn: Path, digits_dir: Path, tmp_path: Path
) -> None:
    """A broken file and a setup fault in the middle do not stop the batch."""
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    test = digits_dir / "test.npz"
    items = [
        BatchItem(id="a", model=good_mlp, spec=load_spec("mlp"), data=test),
        BatchItem(id="b", model=empty, spec=load_spec("mlp"), data=test),
        BatchItem(id="c", model=good_cnn, spec=load_spec("cnn"), data=tmp_path / "x"),
        BatchItem(id="d", model=good_cnn, spec=load_spec("cnn"), data=test),
    ]
    reports = grade_batch(items)
    assert [r.status for r in reports] == ["graded", "failed", "error", "graded"]
    assert "empty" in reports[1].reason
    assert "setup" in reports[2].reason
    alone = grade(good_cnn, load_spec("cnn"), test)
    assert reports[3].public_accuracy == alone.public_accuracy
    assert reports[3].score == alone.score


def test_shared_architecture_grades_each_model_with_its_own_weights(
    good_cnn: Path, digits_dir: Path, tmp_path: Path, keras_mod: Any
) -> None:
    """Models sharing an architecture reuse one compiled function, not weights."""
    model = keras_mod.saving.load_model(good_cnn, compile=False)
    trained, scrambled = tmp_path / "trained.keras", tmp_path / "scrambled.keras"
    model.save(trained)
    rng = np.random.default_rng(1)
    model.set_weights([rng.permutation(w.ravel()).reshape(w.shape)
                       for w in model.get_weights()])  # fmt: skip
    model.save(scrambled)
    test, spec = digits_dir / "test.npz", load_spec("cnn")
    order = [trained, scrambled, trained, scrambled]
    items = [BatchItem(id=str(i), model=p, spec=spec, data=test)
             for i, p in enumerate(order)]  # fmt: skip
    batch = [r.public_accuracy for r in grade_batch(items)]
    alone = {p: grade(p, spec, test).public_accuracy for p in (trained, scrambled)}
    assert batch == [alone[p] for p in order]
    assert alone[trained] > alone[scrambled] + 0.3


def _grader_only_path(tmp_path: Path) -> Path:
    """Return a directory holding only a link to grader/, like the sandbox."""
    root = tmp_path / "pythonpath"
    root.mkdir()
    (root / "grader").symlink_to(REPO / "grader", target_is_directory=True)
    return root


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "PYTHONPATH": str(_grader_only_path(tmp_path)),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "HOME": str(tmp_path),
    }
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_evaluate_writes_report(
    good_mlp: Path, digits_dir: Path, tmp_path: Path
) -> None:
    """evaluate writes the JSON report and exits 0."""
    out = tmp_path / "report.json"
    result = _run(
        [
            "evaluate",
            "--model",
            str(good_mlp),
            "--spec",
            spec_file("mlp", tmp_path),
            "--data",
            str(digits_dir / "test.npz"),
            "--out",
            str(out),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["status"] == "graded" and report["score"] > 80


def test_cli_failed_model_exits_zero(digits_dir: Path, tmp_path: Path) -> None:
    """A failed model is a result: JSON on stdout, exit status 0."""
    model = tmp_path / "m.keras"
    model.write_bytes(b"\x80\x04junk")
    result = _run(
        [
            "evaluate",
            "--model",
            str(model),
            "--spec",
            spec_file("mlp", tmp_path),
            "--data",
            str(digits_dir / "test.npz"),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "failed"


def test_cli_bad_spec_exits_nonzero(
    good_mlp: Path, digits_dir: Path, tmp_path: Path
) -> None:
    """A setup fault exits 2 with a JSON error."""
    spec = tmp_path / "spec.json"
    spec.write_text('{"score": {"target": 7}}')
    result = _run(
        [
            "evaluate",
            "--model",
            str(good_mlp),
            "--spec",
            str(spec),
            "--data",
            str(digits_dir / "test.npz"),
        ],
        tmp_path,
    )
    assert result.returncode == 2
    assert "score.target" in json.loads(result.stdout)["reason"]


def test_cli_batch(
    good_mlp: Path,
    good_transfer: Path,
    digits_dir: Path,
    transfer_dir: Path,
    tmp_path: Path,
) -> None:
    """batch grades a jobs file, including a transfer job and a broken model."""
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"")
    mlp_spec = spec_file("mlp", tmp_path)
    jobs = [
        {"id": "1", "model": str(good_mlp), "spec": mlp_spec,
         "data": str(digits_dir / "test.npz"), "base": None},
        {"id": "2", "model": str(broken), "spec": mlp_spec,
         "data": str(digits_dir / "test.npz"), "base": None},
        {"id": "3", "model": str(good_transfer),
         "spec": spec_file("transfer", tmp_path),
         "data": str(transfer_dir / "test.npz"),
         "base": str(transfer_dir / "base.keras")},
    ]  # fmt: skip
    jobs_path = tmp_path / "jobs.json"
    jobs_path.write_text(json.dumps(jobs))
    out = tmp_path / "reports.json"
    result = _run(["batch", "--jobs", str(jobs_path), "--out", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    reports = json.loads(out.read_text())
    assert [(r["id"], r["status"]) for r in reports] == [
        ("1", "graded"),
        ("2", "failed"),
        ("3", "graded"),
    ]


def test_import_grader_does_not_start_tensorflow(tmp_path: Path) -> None:
    """The site can read reports without importing Keras or TensorFlow."""
    code = (
        "import sys, grader; grader.GradeReport.from_dict({'status': 'graded'}); "
        "print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    env = {"PYTHONPATH": str(_grader_only_path(tmp_path)), "PATH": "/usr/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert result.stdout.strip() == "False False", result.stderr
