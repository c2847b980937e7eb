"""The import rule of docs/ARCHITECTURE.md, checked: the NumPy core imports neither the study side
(tables, claims, experiments, figures, report, the workflow's helpers) nor pandas, matplotlib,
seaborn, SciPy or scikit-learn; and no module of nngrid takes part in an import circle.

The core's modules are named in CORE below (short names); each is found as ``nngrid.core.<name>``
when that package exists, else as ``nngrid.<name>``, so the test holds before and after the core
moves into its own subpackage. Edit the lists, not the tests, when the layout changes.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nngrid

SRC = Path(nngrid.__file__).resolve().parent

#: The NumPy-only core (``nngrid train`` imports these and nothing else of nngrid's study side):
#: every module of src/nngrid/core, and the command line.
CORE = [*sorted(p.stem for p in (SRC / "core").glob("*.py") if p.stem != "__init__"), "cli"]
#: Where the core may live, first match wins.
CORE_PACKAGES = ["nngrid.core", "nngrid"]
#: Third-party packages the core must not import (the study side's dependencies).
FORBIDDEN_LIBRARIES = ["pandas", "matplotlib", "seaborn", "scipy", "sklearn"]
#: nngrid's study side, wherever it lives (a module counts when its name starts with one of these).
FORBIDDEN_NNGRID = [
    f"nngrid.{name}" for name in ("study", "tables", "claims", "report", "figures", "experiments")
]


def core_module(name: str) -> str:
    """The dotted name of core module ``name``: in the first of CORE_PACKAGES that has it."""
    for package in CORE_PACKAGES:
        try:
            if importlib.util.find_spec(f"{package}.{name}") is not None:
                return f"{package}.{name}"
        except ModuleNotFoundError:  # the package itself does not exist (yet)
            continue
    raise AssertionError(f"core module {name!r} is in none of {CORE_PACKAGES}")


def _within(module: str, prefixes: list[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def imported_by(module: str) -> list[str]:
    """Every module in sys.modules after importing ``module`` in a fresh interpreter (no
    plugins: a plugin may import anything)."""
    env = {k: v for k, v in os.environ.items() if k != "NNGRID_PLUGINS"}
    code = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, module],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", CORE)
def test_the_core_imports_nothing_of_the_study_side(name):
    module = core_module(name)
    loaded = imported_by(module)
    assert module in loaded  # the subprocess did import it
    libraries = sorted({m.split(".")[0] for m in loaded if _within(m, FORBIDDEN_LIBRARIES)})
    assert not libraries, f"importing {module} imports {', '.join(libraries)}"
    study = [m for m in loaded if _within(m, FORBIDDEN_NNGRID)]
    assert not study, f"importing {module} imports {', '.join(study)}"


def test_the_checks_see_a_forbidden_import():
    """The subprocess check itself: a study module is seen to import pandas and
    nngrid.study.tables."""
    loaded = imported_by("nngrid.study.tables")
    assert _within("pandas.core", FORBIDDEN_LIBRARIES) and "pandas" in loaded
    assert "nngrid.study.tables" in [m for m in loaded if _within(m, FORBIDDEN_NNGRID)]


# --------------------------------------------------------------------------- import circles


def _module_name(path: Path, src: Path) -> str:
    parts = ["nngrid", *path.relative_to(src).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """nngrid module -> the nngrid modules it imports, anywhere in its source (module level,
    inside functions, under TYPE_CHECKING): ``from package import name`` counts as importing
    ``package.name`` when that is a module, else ``package``."""
    modules = {_module_name(p, src): p for p in src.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's own package upwards
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    edges.add(child if child in modules else base)
        graph[name] = {m for m in edges if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_of_nngrid_is_in_an_import_circle():
    graph = import_graph()
    assert len(graph) > 30 and graph["nngrid.study.figures.make"]  # the whole package was read
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_circle_finder_finds_a_circle(tmp_path):
    """On a throw-away package: a function-level import that closes a circle is found, and
    ``from package import module`` / relative imports resolve to the module."""
    pkg = tmp_path / "nngrid"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from nngrid.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from . import c\n")
    (pkg / "sub" / "c.py").write_text("def f():\n    from nngrid import a\n")
    graph = import_graph(pkg)
    assert graph["nngrid.a"] == {"nngrid.sub.b"} and graph["nngrid.sub.b"] == {"nngrid.sub.c"}
    assert find_cycle(graph) == ["nngrid.a", "nngrid.sub.b", "nngrid.sub.c", "nngrid.a"]
    (pkg / "sub" / "c.py").write_text("import nngrid.sub\n")
    assert find_cycle(import_graph(pkg)) is None
