"""Layering the code keeps: no import circles, apps in layers, libraries free of apps.

Every import counts, including those inside functions (an import hidden in a
function still ties the two modules together).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOPS = ("platform", "workers", "grader", "assignments", "dojo_client", "dojo_runner")
# The platform's apps, bottom up (docs/architecture.md, "Layering the tests
# enforce"). An app may import only the apps before it. `web` holds pure
# helpers (charts, images, Markdown, JSON request bodies) and is no app: it
# imports none. `jobs` is the one job framework (queue, claim, heartbeat,
# outcome, apply, reconcile, spares, placement): submissions and checks are kinds
# of job that register with it. Checks share the submission's feedback and
# source validator (never its services), so they may import submissions, never
# the reverse. The workspace composes drafts with
# submissions and checks (a draft is submitted or checked), so it sits on
# both; runners (hosts that join over the network) take trainings through the
# submissions' claim; the dashboard shows all of these, the API serves them, and config
# wires everything (URLs, the Celery app) on top.
LAYERS = (
    "web",
    "accounts",
    "workshops",
    "jobs",
    "submissions",
    "checks",
    "runners",
    "workspace",
    "dashboard",
    "api",
    "config",
)
# Libraries the platform uses; they never import a platform app.
LIBRARIES = ("grader", "workers", "assignments", "dojo_client", "dojo_runner")
# What the job floor (queue, claim, apply) may never reach: tasks or features.
FEATURES = {
    "submissions.tasks",
    "submissions.predictions",
    "submissions.prediction_worker",
    "submissions.views",
    "submissions.services.execution",
    "submissions.services.reevaluate",
    "submissions.services.regrade",
    "submissions.services.lifecycle",
    "submissions.services.intake",
    "submissions.services.reconcile",
    "submissions.services.sweep",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "platform":
        rel = rel.relative_to("platform")
    return ".".join(rel.with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> set[str]:
    """Return every module name the file imports (absolute, relative resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def _graph(*tops: str) -> dict[str, set[str]]:
    paths = {
        _module_name(p): p
        for top in tops
        for p in (ROOT / top).rglob("*.py")
        if "migrations" not in p.parts
    }
    return {
        name: {m for m in _imports(path) if m in paths and m != name}
        for name, path in paths.items()
    }


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_the_circle_finder_finds_a_circle():
    """The check itself can fail: a two-module circle is reported."""
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": set()}
    assert _circles(graph) == [["a", "b"]]


def test_no_import_circles():
    assert _circles(_graph(*TOPS)) == []


def _layer_breaches(graph: dict[str, set[str]]) -> list[str]:
    """Return each import of an app from one not above it, or of an app by a library."""
    rank = {app: n for n, app in enumerate(LAYERS)}
    found = []
    for name, imported in sorted(graph.items()):
        here = name.split(".")[0]
        for other in sorted(imported):
            there = other.split(".")[0]
            if there == here or there not in rank:
                continue
            if here in LIBRARIES or rank.get(here, -1) < rank[there]:
                found.append(f"{name} -> {other}")
    return found


def test_the_layer_check_finds_an_upward_import():
    graph = {
        "workshops.views": {"dashboard.charts", "accounts.models"},
        "grader.load": {"submissions.storage"},
        "api.views": {"checks.models", "workers.sandbox"},
    }
    assert _layer_breaches(graph) == [
        "grader.load -> submissions.storage",
        "workshops.views -> dashboard.charts",
    ]


def test_each_app_imports_only_the_apps_below_it_and_libraries_none():
    assert _layer_breaches(_graph(*TOPS)) == []


def test_the_job_floor_imports_no_task_or_feature_module():
    jobs = ROOT / "platform/submissions/services/jobs.py"
    assert _imports(jobs) & FEATURES == set()


def _reaches(graph: dict[str, set[str]], *, source: str, target: str) -> list[str]:
    """Return each import of a `target` module by a `source` module (prefixes)."""
    return [
        f"{name} -> {other}"
        for name, imported in sorted(graph.items())
        if name == source or name.startswith(f"{source}.")
        for other in sorted(imported)
        if other == target or other.startswith(f"{target}.")
    ]


def test_the_reach_check_finds_an_import():
    graph = {
        "checks.training": {"submissions.services.placement", "jobs.placement"},
        "checksum": {"submissions.services.jobs"},
    }
    assert _reaches(graph, source="checks", target="submissions.services") == [
        "checks.training -> submissions.services.placement"
    ]


def test_the_job_package_owns_what_every_kind_uses():
    """Placement, the runner-only queues and the heartbeat are the job
    package's: it imports nothing of submissions, and a check run (a kind of
    job) takes nothing from the submissions' services."""
    graph = _graph("platform")
    assert _reaches(graph, source="jobs", target="submissions") == []
    assert _reaches(graph, source="checks", target="submissions.services") == []


def test_only_celery_imports_the_tasks():
    """Services send by name through the outbox; nothing imports tasks.py."""
    offenders = [
        _module_name(path)
        for top in ("platform", "workers")
        for path in (ROOT / top).rglob("*.py")
        if "submissions.tasks" in _imports(path)
    ]
    assert offenders == []


def test_services_package_re_exports_nothing():
    init = ROOT / "platform/submissions/services/__init__.py"
    assert _imports(init) == set()


def test_no_module_imports_another_modules_private_name() -> None:
    """A `_name` is its module's own: code that others need is made public (or
    moved where it belongs), so a private helper can change without a search."""
    found = []
    for top in ("platform", "workers", "grader", "assignments", "bench", "dojo_client"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom):
                    found += [
                        f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_")
                        and not alias.name.startswith("__")
                    ]
    assert not found, found
