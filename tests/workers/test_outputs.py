"""What a sandbox leaves behind is bounded, refused or cleaned before use."""

import json
import os

import pytest

from workers import outputs
from workers.outputs import UntrustedOutputError

GOOD_HISTORY = {"loss": [1.0, 0.5], "val_accuracy": [0.5, 0.75]}


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_plain_history_is_read_as_finite_series(tmp_path):
    path = _write(tmp_path, "history.json", json.dumps(GOOD_HISTORY).encode())
    assert outputs.history_read(path) == GOOD_HISTORY


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b'{"loss": [' + b"[" * 50 + b"]" * 50 + b"]}", "nested deeper"),
        (b'{"loss": [1.0, NaN]}', "NaN"),
        (b'{"loss": [Infinity]}', "Infinity"),
        (b'{"loss": [1e999]}', "not finite"),
        (b'{"lo\\u0000ss": [1.0]}', "not plain text"),
        (b'{"loss": ["\\u0000"]}', "not a number"),
        (b'{"loss": [true]}', "not a number"),
        (b'{"loss": 1.0}', "is not a list"),
        (b"[1, 2]", "not an object"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not valid JSON"),
        (json.dumps({"loss": [0.0] * 10_001}).encode(), "at most"),
        (json.dumps({f"s{i}": [] for i in range(33)}).encode(), "more than 32"),
    ],
)
def test_a_hostile_history_is_refused_with_the_reason(tmp_path, data, says):
    path = _write(tmp_path, "history.json", data)
    with pytest.raises(UntrustedOutputError, match=says):
        outputs.history_read(path)


def test_an_oversized_history_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "history.json"
    with path.open("wb") as handle:
        handle.truncate(10 * 1024**3)  # sparse: 10 GiB that cost no disk
    with pytest.raises(UntrustedOutputError, match="larger than"):
        outputs.history_read(path)


def test_a_link_to_a_host_file_is_not_followed(tmp_path):
    secret = _write(tmp_path, "secret.json", json.dumps(GOOD_HISTORY).encode())
    link = tmp_path / "reports.json"
    link.symlink_to(secret)
    with pytest.raises(UntrustedOutputError, match="cannot open"):
        outputs.reports_read(link)


def test_a_fifo_does_not_block_the_reader(tmp_path):
    fifo = tmp_path / "reports.json"
    os.mkfifo(fifo)
    with pytest.raises(UntrustedOutputError, match="not a regular file"):
        outputs.reports_read(fifo)


def test_reports_are_capped_in_size(tmp_path):
    path = tmp_path / "reports.json"
    with path.open("wb") as handle:
        handle.truncate(outputs.REPORTS_MAX_BYTES + 1)
    with pytest.raises(UntrustedOutputError, match="larger than"):
        outputs.reports_read(path)


def _report(**values) -> dict:
    return {
        "id": "7",
        "status": "graded",
        "reason": "",
        "public_accuracy": 0.9,
        "private_accuracy": 0.8,
        "per_class_accuracy": [0.9, 0.8],
        "confusion_matrix": [[9, 1], [2, 8]],
        "params_total": 100,
        "params_trainable": 100,
        "layers": [
            {
                "name": "dense",
                "type": "Dense",
                "output_shape": [None, 10],
                "params": 100,
                "trainable": True,
            }
        ],
        "checks": [{"id": "layers", "passed": True, "message": "ok"}],
        "score": 90.0,
        "private_score": 80.0,
        "max_score": 100.0,
        "grader_version": "1.0.0",
        "spec_version": "3",
        **values,
    }


def test_a_report_keeps_its_values():
    image = {"label": 1, "predicted": 2, "pixels": "AAAA"}
    report = outputs.report_parse(_report(misclassified=[image] * 20 + ["junk"]))
    assert report.misclassified == [image] * 16
    assert report.score == 90.0 and report.public_accuracy == 0.9
    assert report.layers[0].name == "dense" and report.checks[0].passed
    assert report.spec_version == "3"


def test_layer_names_and_messages_lose_their_nul_and_control_characters():
    """A participant can name a layer "a\\x00b"; jsonb would refuse the NUL."""
    layer = {
        "name": "a\x00b\x1b[31m",
        "type": "Dense",
        "output_shape": [None, 10],
        "params": 1,
        "trainable": True,
    }
    report = outputs.report_parse(
        _report(
            layers=[layer],
            checks=[{"id": "x\x00", "passed": True, "message": "m\x00" * 10_000}],
            reason="r\x00",
        )
    )
    assert report.layers[0].name == "ab[31m"
    assert report.checks[0].id == "x"
    assert "\x00" not in report.checks[0].message
    assert len(report.checks[0].message) <= outputs.MAX_TEXT
    assert report.reason == "r"


def test_metadata_that_is_not_a_finite_number_is_dropped():
    report = outputs.report_parse(
        _report(
            public_accuracy=float("nan"),
            score="90",
            params_total=-5,
            spec_version="1; drop table",
            layers=[{"name": 3, "output_shape": "x", "params": float("inf")}],
        )
    )
    assert report.public_accuracy is None
    assert report.score == 0.0
    assert report.params_total == 0
    assert report.spec_version == ""
    assert report.layers[0].name == "3" and report.layers[0].output_shape == []
    assert report.layers[0].params == 0


def test_a_check_passes_only_when_it_says_true():
    report = outputs.report_parse(
        _report(checks=[{"id": "a", "passed": "yes", "message": ""}])
    )
    assert report.checks[0].passed is False


def test_a_report_with_an_unknown_status_is_refused():
    with pytest.raises(UntrustedOutputError, match="unknown status"):
        outputs.report_parse(_report(status="excellent"))


def test_a_clean_report_reads_back_exactly_as_the_grader_wrote_it():
    """Cleaning drops nothing from a well-formed report (every field is kept)."""
    from grader import GradeReport

    written = GradeReport.from_dict(
        _report(misclassified=[{"label": 1, "predicted": 2, "pixels": "AA"}])
    )
    assert outputs.report_parse({"id": "7", **written.to_dict()}) == written


@pytest.mark.parametrize(
    ("fields", "score", "private"),
    [
        ({"score": 1e9, "private_score": 500.0, "max_score": 100}, 100.0, 100.0),
        ({"score": -5.0, "private_score": -1e9, "max_score": 100}, 0.0, 0.0),
        ({"score": 50.0, "private_score": 7.0, "max_score": 1e12}, 50.0, 7.0),
        ({"score": 5.0, "private_score": 5.0, "max_score": -3}, 5.0, 5.0),
    ],
)
def test_a_score_is_clamped_between_zero_and_the_maximum(fields, score, private):
    """A report's score never leaves [0, max_score]; max_score itself is bounded."""
    report = outputs.report_parse({"status": "graded", **fields})
    assert 0 < report.max_score <= outputs.MAX_SCORE
    assert report.score == min(score, report.max_score)
    assert report.private_score == min(private, report.max_score)
