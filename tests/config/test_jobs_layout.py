"""The job machinery has one public module, and task names outlive moves."""

import ast
from pathlib import Path

from config.celery_app import app
from submissions.models import Run
from submissions.queues import QUEUES, JobQueue
from workers import sandbox

ROOT = Path(__file__).resolve().parents[2]
# The job machinery and its callers; other apps are outside this check for now.
SOURCES = ("platform", "workers", "grader", "assignments", "dojo_client")


def test_tasks_keep_the_names_queued_messages_carry():
    """A message sent before the tasks moved into the app still finds its task."""
    app.loader.import_default_modules()
    names = {
        "workers.tasks.train",
        "workers.tasks.evaluate",
        "workers.tasks.regrade_chunk",
        "workers.tasks.reconcile",
        "workers.tasks.broker_cleanup",
    }
    assert names <= set(app.tasks)
    assert app.tasks["workers.tasks.train"].__module__ == "submissions.tasks"


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
