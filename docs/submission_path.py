"""List the files whose code a submission runs through, from the upload to the grade.

Run `python docs/submission_path.py`; docs/architecture.md's "The trail of one
submission" quotes its answer and a test (tests/config/test_submission_path.py)
holds the page to it.

The answer comes from the code, not from memory: starting at the API's upload
view, follow every reference to a project function, class or method (a call,
a callback passed on, an import inside a function), and every hop by task name
(`JobTask.TRAIN` leads to the task registered under that name, through the
Celery app), and every hop through the job framework's registry (`jobs.apply.
job_apply` leads to the appliers the submissions app registers for a run's
kinds). `grader/`
and `workers/sandbox/` count as one file each (the sandbox runs the grader
as a program); `models.py` and `queues.py` are definitions, used before and
after, and left out. A method called on an
object (`run.save()`) is not followed: only names the code spells out.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("platform", "workers", "grader")
START = (
    ("api.views", "SubmissionListCreateView.initial"),
    ("api.views", "SubmissionListCreateView.post"),
)
ONE_FILE = {"grader": "grader/", "workers.sandbox": "workers/sandbox/"}
CELERY_APP = "config.celery_app"


def _is_definition(module: str) -> bool:
    return module.endswith(".models") or module == "jobs.queues"


class Module:
    """One module's top-level names, methods and imports."""

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        self.tree = ast.parse(path.read_text())
        self.defs: dict[str, ast.AST] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defs[node.name] = node
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        self.defs[f"{node.name}.{item.name}"] = item
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0],
                        None,
                    )
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[
                        : len(package.split(".")) - node.level + 1
                    ]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (base, alias.name)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "platform":
        rel = rel.relative_to("platform")
    return ".".join(rel.with_suffix("").parts).removesuffix(".__init__")


def _modules() -> dict[str, Module]:
    return {
        _module_name(path): Module(_module_name(path), path)
        for top in TOPS
        for path in sorted((ROOT / top).rglob("*.py"))
        if "migrations" not in path.parts
    }


def _task_names(modules: dict[str, Module]) -> dict[str, tuple[str, str]]:
    """Map each `JobTask` member to the task function registered under it."""
    found = {}
    for module in modules.values():
        for name, node in module.defs.items():
            for decorator in getattr(node, "decorator_list", []):
                for keyword in getattr(decorator, "keywords", []):
                    value = keyword.value
                    if (
                        keyword.arg == "name"
                        and isinstance(value, ast.Attribute)
                        and isinstance(value.value, ast.Attribute)
                        and isinstance(value.value.value, ast.Name)
                        and value.value.value.id == "JobTask"
                    ):
                        found[value.value.attr] = (module.name, name)
    return found


APPLY = ("jobs.apply", "job_apply")


def _run_kind_loops(tree: ast.AST) -> list[ast.For]:
    """Return the loops over a run's kinds (`for kind in Run.Kind:`)."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.For)
        and isinstance(node.iter, ast.Attribute)
        and isinstance(node.iter.value, ast.Name)
        and (node.iter.value.id, node.iter.attr) == ("Run", "Kind")
    ]


def _appliers(modules: dict[str, Module]) -> list[tuple[str, str]]:
    """Return the appliers the submissions app registers with `job_apply` for a
    run's kinds (a prediction's applier is another kind's, off this path)."""
    found = []
    for module in modules.values():
        if not module.name.startswith("submissions"):
            continue
        for node in (
            n for loop in _run_kind_loops(module.tree) for n in ast.walk(loop)
        ):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "job_applier_register"
            ):
                for keyword in node.keywords:
                    if keyword.arg == "applier" and isinstance(keyword.value, ast.Name):
                        target, attr = module.imports[keyword.value.id]
                        found.append((target, attr))
    return found


class Walker:
    """Follow references from the start to every function they reach."""

    def __init__(self) -> None:
        self.modules = _modules()
        self.tasks = _task_names(self.modules)
        self.appliers = _appliers(self.modules)
        self.seen: set[tuple[str, str]] = set()
        self.files: set[str] = set()

    def _file(self, module: str) -> str:
        for prefix, label in ONE_FILE.items():
            if module == prefix or module.startswith(prefix + "."):
                return label
        return str(self.modules[module].path.relative_to(ROOT)).removeprefix(
            "platform/"
        )

    def _boundary(self, module: str) -> bool:
        return any(module == p or module.startswith(p + ".") for p in ONE_FILE)

    def _resolve(self, module: str, name: str, depth: int = 0) -> tuple | None:
        """Return (module, name) where ``name`` seen from ``module`` is defined."""
        here = self.modules.get(module)
        if here is None or depth > 8:
            return None
        if name in here.defs:
            return (module, name)
        if name in here.imports:
            target, attr = here.imports[name]
            if attr is None:
                return None
            if f"{target}.{attr}" in self.modules:
                return (f"{target}.{attr}", None)
            return self._resolve(target, attr, depth + 1)
        return None

    def _reached(self, module: str, node: ast.AST, owner: str | None):
        """Yield (module, name) for every project name ``node``'s code spells."""
        here = self.modules[module]
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                if (found := self._resolve(module, sub.id)) and found[1]:
                    yield found
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                head, attr = sub.value.id, sub.attr
                if head == "JobTask" and attr in self.tasks:
                    yield (CELERY_APP, None)
                    yield self.tasks[attr]
                elif head in ("self", "cls") and owner:
                    if f"{owner}.{attr}" in here.defs:
                        yield (module, f"{owner}.{attr}")
                elif (found := self._resolve(module, head)) is not None:
                    target, name = found
                    if name is None:  # a module: its attribute
                        if (inner := self._resolve(target, attr)) and inner[1]:
                            yield inner
                        elif self._boundary(target):
                            self.files.add(self._file(target))
                    elif f"{name}.{attr}" in self.modules[target].defs:
                        yield (target, f"{name}.{attr}")

    def walk(self) -> list[str]:
        todo = list(START)
        while todo:
            module, name = todo.pop()
            if (module, name) in self.seen or _is_definition(module):
                continue
            self.seen.add((module, name))
            self.files.add(self._file(module))
            if self._boundary(module) or name is None:
                continue
            node = self.modules[module].defs[name]
            owner = name.partition(".")[0] if "." in name else None
            if isinstance(node, ast.ClassDef):
                owner = name
            todo.extend(self._reached(module, node, owner))
            if (module, name) == APPLY:
                todo.extend(self.appliers)
        return sorted(self.files)


def submission_path() -> list[str]:
    """Return the files on a submission's path, relative to platform/."""
    return Walker().walk()


def main() -> int:
    files = submission_path()
    print(f"{len(files)} files")
    print(", ".join(f"`{name}`" for name in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
