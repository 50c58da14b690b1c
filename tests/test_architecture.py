"""The package's layering: no import cycles between its units, no web framework below `http/`.

A unit is a first-level part of `threadline`: a top-level module (`threadline.errors`) or a
subpackage (`threadline.runs`). The import graph is read from the source with `ast`, so an
import inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "threadline"

# Alembic loads these scripts by path when it migrates; no unit imports them. env.py sits on
# top of everything (it needs every table, `threadline.tables`), like `app.py` does.
NOT_MODULES = (Path("db") / "migrations",)

Graph = dict[str, set[str]]
Edge = tuple[str, str]

# Modules that must load neither FastAPI nor Starlette (with every module of the units in
# `FREE_UNITS`): the domain under the HTTP layer.
SERVICES = [
    "threadline.errors",
    "threadline.assistants.service",
    "threadline.threads.service",
    "threadline.runs.service",
    "threadline.files.service",
    "threadline.vector_stores.service",
    "threadline.conversations.service",
    "threadline.responses.service",
    "threadline.responses.input_tokens",
    "threadline.responses.stream",
    "threadline.containers.service",
    "threadline.containers.files",
    "threadline.containers.file_bytes",
]
FREE_UNITS = ("tools", "engine", "backends", "events")
FRAMEWORKS = ("fastapi", "starlette")
# Run by the sandboxed interpreter from its text (it reads requests on stdin), never imported.
SCRIPTS = {"threadline.tools.code_interpreter.kernel"}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(root: Path, package: str) -> Iterator[Path]:
    base = root / package
    for path in sorted(base.rglob("*.py")):
        if not any(path.relative_to(base).is_relative_to(skip) for skip in NOT_MODULES):
            yield path


def imported_names(path: Path, root: Path) -> Iterator[str]:
    """Every module name an import in `path` may refer to, relative imports resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            # `from threadline import ids` imports the module `threadline.ids`.
            yield from (f"{target}.{alias.name}" for alias in node.names)


def units_of(root: Path, package: str) -> set[str]:
    base = root / package
    return {
        path.stem if path.is_file() else path.name
        for path in base.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }


def import_graph(root: Path = SRC, package: str = PACKAGE) -> Graph:
    """unit -> the other units it imports."""
    units = units_of(root, package)
    graph: Graph = {unit: set() for unit in units}
    for path in source_files(root, package):
        parts = module_name(path, root).split(".")
        if len(parts) < 2:
            continue  # the package's own __init__
        for target in imported_names(path, root):
            head, _, rest = target.partition(".")
            unit = rest.split(".")[0]
            if head == package and unit in units and unit != parts[1]:
                graph[parts[1]].add(unit)
    return graph


def edges(graph: Graph) -> set[Edge]:
    return {(source, target) for source, targets in graph.items() for target in targets}


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as the path `[a, b, ..., a]`, or None when the graph is acyclic."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if cycle := visit(node):
            return cycle
    return None


def without(graph: Graph, removed: set[Edge]) -> Graph:
    return {
        source: {t for t in targets if (source, t) not in removed}
        for source, targets in graph.items()
    }


# -- the rules --------------------------------------------------------------------------------


def test_no_cycle_between_units() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle between units: " + " -> ".join(cycle or [])


def modules_under(subpackage: str) -> list[str]:
    return [
        module_name(path, SRC)
        for path in source_files(SRC, f"{PACKAGE}/{subpackage}")
        if module_name(path, SRC) not in SCRIPTS
    ]


FREE = SERVICES + [module for unit in FREE_UNITS for module in modules_under(unit)]


def loaded_frameworks(module: str) -> list[str]:
    code = (
        f"import importlib, json, sys; importlib.import_module({module!r}); "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r})))"
    )
    # This checkout's source first, whatever else the environment has installed.
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", FREE)
def test_module_loads_no_web_framework(module: str) -> None:
    loaded = loaded_frameworks(module)
    assert not loaded, f"importing {module} loads {loaded[:5]}"


# -- the readers, on a package made up for them -----------------------------------------------


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/top.py": "import pkg.alpha.models\n",
            "pkg/alpha/__init__.py": "",
            "pkg/alpha/models.py": "from ..beta import service\n",
            "pkg/beta/__init__.py": "from . import service\n",
            "pkg/beta/service.py": "def late():\n    from pkg import gamma\n",
            "pkg/gamma.py": "from pkg.delta.deep import thing\n",
            "pkg/delta/__init__.py": "",
            "pkg/delta/deep.py": "from .. import top\nthing = 1\n",
        },
    )
    graph = import_graph(tmp_path, "pkg")
    assert edges(graph) == {
        ("top", "alpha"),
        ("alpha", "beta"),
        ("beta", "gamma"),
        ("gamma", "delta"),
        ("delta", "top"),
    }
    assert find_cycle(graph) == ["alpha", "beta", "gamma", "delta", "top", "alpha"]
    assert find_cycle(without(graph, {("delta", "top")})) is None


def test_the_real_graph_is_read() -> None:
    # A reader that saw nothing would find no cycle; these edges are there on purpose.
    assert {("runs", "threads"), ("threads", "files"), ("http", "errors")} <= edges(import_graph())
