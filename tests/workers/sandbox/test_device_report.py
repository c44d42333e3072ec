"""The job reports, from inside its sandbox, the device its backend trained on."""

from __future__ import annotations

import json
import os
from pathlib import Path

from workers.sandbox import Outcome, read_device_report, run, runner_argv


def _run_script(work_dir: Path, code: str):
    script = work_dir / "submission.py"
    script.write_text(code)
    report = work_dir / "device.json"
    result = run(
        runner_argv(str(script)),
        work_dir=work_dir,
        env={"KERAS_BACKEND": "tensorflow", "DOJO_DEVICE_REPORT": str(report)},
    )
    return result, read_device_report(report)


def test_keras_job_reports_the_cpu_it_ran_on(work_dir: Path) -> None:
    """A job that used Keras on this GPU-less host says it trained on the CPU."""
    result, report = _run_script(
        work_dir,
        "import sys, keras\nprint('argv', sys.argv, __name__)\n"
        "keras.ops.sum(keras.ops.ones((2, 2)))\n",
    )
    assert result.outcome is Outcome.OK, result.log
    # The job's own folder is shown relative to itself.
    assert "argv ['submission.py'] __main__" in result.log
    assert report is not None
    assert (report.backend, report.on_gpu, report.name) == ("tensorflow", False, "CPU")


def test_failing_job_still_reports_and_keeps_its_error(work_dir: Path) -> None:
    result, report = _run_script(
        work_dir, "import keras\nraise ValueError('bad learning rate')\n"
    )
    assert result.outcome is Outcome.EXIT_NONZERO
    assert result.log.strip().splitlines()[-1] == "ValueError: bad learning rate"
    assert report is not None and report.on_gpu is False


def test_a_traceback_starts_at_the_participants_code(work_dir: Path) -> None:
    """The runner's and runpy's frames are cut from a traceback, chained causes
    keep theirs, the script is named by its file name, and the reason quoting
    the error's last line ends with one full stop."""
    from submissions.feedback import code_error_reason

    result, _ = _run_script(
        work_dir,
        "import json\n"
        "def parse():\n"
        "    json.loads('{bad')\n"
        "try:\n"
        "    parse()\n"
        "except ValueError as exc:\n"
        "    raise RuntimeError('could not parse, see above.') from exc\n",
    )
    assert result.outcome is Outcome.EXIT_NONZERO and result.exit_code == 1
    frames = [line.strip() for line in result.log.splitlines() if "File " in line]
    assert frames[0] == 'File "submission.py", line 5, in <module>'
    assert 'File "submission.py", line 3, in parse' in frames
    assert frames[-1] == 'File "submission.py", line 7, in <module>'
    assert not any("<frozen" in f or "<string>" in f for f in frames)
    assert "The above exception was the direct cause" in result.log
    reason = code_error_reason(log=result.log, exit_code=1, retry="submit")
    assert "RuntimeError: could not parse, see above. The log shows" in reason


def test_job_that_never_loaded_a_backend_reports_nothing_known(work_dir: Path):
    result, report = _run_script(work_dir, "print('no keras here')\n")
    assert result.outcome is Outcome.OK
    assert report is not None and report.on_gpu is None and report.name == ""


def test_forged_reports_are_refused_or_cleaned(tmp_path: Path) -> None:
    """The report is hostile input: links, huge files, bad shapes are refused."""
    target = tmp_path / "real.json"
    target.write_text(json.dumps({"backend": "torch", "on_gpu": True, "name": "x"}))
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert read_device_report(link) is None
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"on_gpu": True, "name": "A" * 10_000}))
    assert read_device_report(huge) is None
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"on_gpu": "yes", "name": "x"}))
    assert read_device_report(odd) is None
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert read_device_report(fifo) is None
    html = tmp_path / "html.json"
    html.write_text(json.dumps({"on_gpu": True, "name": "<b>H200</b>" + "9" * 99}))
    report = read_device_report(html)
    assert report is not None and "<" not in report.name and len(report.name) <= 60
