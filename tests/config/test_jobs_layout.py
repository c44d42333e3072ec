"""The job machinery has one public module, and task names say where tasks live."""

import ast
from pathlib import Path

from config.celery_app import app
from jobs.queues import QUEUES, JobQueue, JobTask
from submissions.models import Run
from workers import sandbox

ROOT = Path(__file__).resolve().parents[2]
# The job machinery and its callers; other apps are outside this check for now.
SOURCES = ("platform", "workers", "grader", "assignments", "dojo_client")


def test_each_task_is_named_for_the_module_it_lives_in():
    """A task's name says where it lives (`submissions.tasks.train` is in
    submissions/tasks.py), so a name read in a log or a queue leads to its code."""
    app.loader.import_default_modules()
    for name in JobTask:
        assert app.tasks[name.value].__module__ == name.value.rpartition(".")[0]


def test_queue_names_come_from_one_enum():
    assert QUEUES == tuple(queue.value for queue in JobQueue)
    assert set(QUEUES) == {
        "train-cpu",
        "train-gpu",
        "evaluate",
        "site",
        "predict",
        "check",
    }


def test_every_sandbox_outcome_is_a_run_outcome():
    """A run records each way a sandbox can end, plus the platform's own two."""
    assert {str(o) for o in sandbox.Outcome} <= set(Run.Outcome.values)
    assert {"platform_error", "worker_lost"} <= set(Run.Outcome.values)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "platform":
        rel = rel.relative_to("platform")
    return ".".join(rel.with_suffix("").parts).removesuffix(".__init__")


def test_no_module_imports_another_modules_private_names():
    """`from x import _name` reaches into x's internals: nothing does that."""
    offenders = []
    for top in SOURCES:
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and not node.level:
                    offenders += [
                        f"{_module_name(path)}: {node.module}.{alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_")
                    ]
    assert offenders == []
