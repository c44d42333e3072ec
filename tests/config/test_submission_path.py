"""docs/architecture.md's count of the files on a submission's path is the script's."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs/architecture.md"


def _script():
    spec = importlib.util.spec_from_file_location(
        "submission_path", ROOT / "docs/submission_path.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _page_block() -> str:
    text = PAGE.read_text()
    return text.split("<!-- submission-path:start -->")[1].split(
        "<!-- submission-path:end -->"
    )[0]


def test_the_page_lists_the_files_the_script_finds():
    files = _script().submission_path()
    block = _page_block()
    assert re.findall(r"`([^`]+)`", block) == files
    assert f"**{len(files)} files**" in block


def test_the_path_runs_from_the_upload_through_both_tasks_to_the_grade():
    """The walk crosses the hops by task name, so it reaches the grade."""
    files = _script().submission_path()
    for step in (
        "api/views.py",
        "submissions/services/intake.py",
        "jobs/outbox.py",
        "config/celery_app.py",
        "submissions/tasks.py",
        "submissions/services/execution.py",
        "workers/sandbox/",
        "grader/",
        "submissions/services/grading.py",
    ):
        assert step in files, step
    assert not any(name.endswith("models.py") for name in files)
