"""The pure cores import no Django, and services and tasks import one way (DESIGN.md: layers and
the direction of imports)."""

import ast
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ("explainers/core", "analysis")
FORBIDDEN = ("django", "rest_framework", "celery", "studies", "studyplatform", "explainers.models")


def _imports_of(folder: Path, packages: tuple[str, ...]) -> list[str]:
    """``file: module`` for every absolute import under ``folder`` of one of ``packages`` (or
    a module inside one), function-level imports included."""
    found = []
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if any(name == p or name.startswith(p + ".") for p in packages)
            ]
    return found


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_source_imports_no_django(package):
    folder = ROOT / package
    assert folder.is_dir(), f"{package} is missing"
    assert not (offenders := _imports_of(folder, FORBIDDEN)), offenders


@pytest.mark.parametrize("module", ["explainers.core", "analysis"])
def test_importing_a_pure_package_loads_no_django(module):
    code = (
        f"import sys, {module}; "
        "bad = [m for m in sys.modules if m == 'django' or m.startswith('django.')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


#: The service and task layers whose imports must flow one way (DESIGN.md; issue 19): command →
#: service → task → compute → storage, and view → analysis request → task → analysis run.
ONE_WAY = ("explainers/services", "explainers/tasks", "studies/services", "studies/tasks.py")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _import_graph() -> dict[str, set[str]]:
    """Module → the modules of ONE_WAY it imports, anywhere in it (a function-level import is
    an arrow too: it only hides a cycle from the interpreter)."""
    files = []
    for entry in ONE_WAY:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    # a package's __init__ only re-exports its modules: it is not a step of the path
    modules = {_module(f): f for f in files if f.name != "__init__.py"}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            graph[name] |= {t for t in targets if t in modules and t != name}
    # a package's __init__ re-exports its modules: it is not a step of the path
    return {
        m: {t for t in ts if (ROOT / t.replace(".", "/")).is_dir() is False}
        for m, ts in graph.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph, or [] (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_services_and_tasks_import_one_way():
    graph = _import_graph()
    assert "explainers.services.units" in graph and "studies.services.analysis_runs" in graph
    cycle = _cycle(graph)
    assert not cycle, " → ".join(cycle)


def test_the_precompute_path_reads_command_service_task_compute_storage():
    graph = _import_graph()
    path = [
        "explainers.services.precompute",
        "explainers.tasks.jobs",
        "explainers.services.units",
        "explainers.services.compute",
        "explainers.services.result_storage",
    ]
    for step, nxt in itertools.pairwise(path):
        assert nxt in graph[step], f"{step} should call {nxt}"
    # nothing downstream knows the steps before it
    for i, step in enumerate(path):
        assert not graph[step] & set(path[:i]), f"{step} imports {graph[step] & set(path[:i])}"
    assert graph["explainers.services.parameters"] == {"explainers.services.errors"}


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    "module",
    [
        "explainers.services.units",
        "explainers.services.render_requests",
        "explainers.services.result_storage",
        "explainers.tasks.gpu",
        "studies.services.analysis_runs",
        "studies.tasks",
    ],
)
def test_each_step_imports_first_in_a_fresh_interpreter(module):
    """Package initialisation order cannot close a cycle the graph does not show (loading
    ``explainers.tasks`` loads every task module)."""
    code = (
        "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        f"'studyplatform.settings'); django.setup(); import {module}"
    )
    env = {**os.environ, "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_explainers_never_imports_studies():
    """Data flows one way: studies depends on explainers. Explainers reports through signals
    (explainers.signals) that studies listens to, never by importing it."""
    assert not (offenders := _imports_of(ROOT / "explainers", ("studies",))), offenders
