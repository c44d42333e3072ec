"""The project layout keeps Python's standard library and the design intact."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_standard_platform_module_is_not_shadowed(settings):
    """`import platform` under the project's settings is still the stdlib module."""
    import platform

    assert platform.system() == "Linux"
    assert Path(platform.__file__).parent != ROOT / "platform"


def test_platform_module_in_a_fresh_process_with_project_paths():
    """A process with platform/ and the root on sys.path still gets the stdlib."""
    code = (
        "import django, os;"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings.test';"
        "django.setup(); import platform, uuid;"
        "print(platform.system(), uuid.uuid4())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.startswith("Linux ")


def _imports(where: Path) -> set[str]:
    names: set[str] = set()
    for path in [where] if where.is_file() else where.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_grader_and_sandbox_never_import_django():
    """grader/, workers/sandbox/ and the runner host stay free of Django."""
    for where in (
        "grader",
        "workers/sandbox",
        "workers/evaluation.py",
        "workers/outputs.py",
        "workers/boundedjson.py",
        "workers/notebook.py",
        "workers/jobspec.py",
        "dojo_runner",
    ):
        assert "django" not in _imports(ROOT / where), where
