"""The import flow graph -> engine -> evaluation: never back up, between top-level packages or between the
sub-packages inside one, and no circle among modules.

Every import counts, wherever it stands: at module level, inside a function (a deferred import runs too), and under
`if TYPE_CHECKING:` (a circle that only type checkers see is still a circle a reader has to follow). Relative
imports are resolved; `from pkg import sub` counts as an import of the submodule when `sub` is one.

A *unit* is a sub-package (`engine.scorers`, `graph.common`, `evaluation.app.serve`, ...) or a module that sits
directly in a top-level package (`engine.inputs`, `graph.build`): imports between units must form no circle, so
that the units can be ordered in floors and no import runs back up a floor.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"graph": 0, "engine": 1, "evaluation": 2}


def _modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for pkg in LAYERS:
        for p in (root / pkg).rglob("*.py"):
            parts = list(p.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def _imports(path: Path, module: str, known: set[str] | None = None) -> list[str]:
    """The first-party modules `module` (at `path`) imports, anywhere in the file (see the module docstring)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                names.append(sub if known is not None and sub in known else base)
    return [n for n in dict.fromkeys(names) if n.split(".")[0] in LAYERS]


def _graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = _modules(root)
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for m, p in mods.items():
        targets = set()
        for n in _imports(p, m, known):
            while n not in known and "." in n:  # `import a.b.name` where name is not a module: a.b
                n = n.rpartition(".")[0]
            if n in known and n != m:
                targets.add(n)
        graph[m] = targets
    return graph


def _unit(module: str, root: Path = ROOT) -> str:
    parts = module.split(".")
    if len(parts) >= 2 and (root / parts[0] / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected component with more than one member (Tarjan), members sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _unit_graph(graph: dict[str, set[str]], root: Path = ROOT) -> dict[str, set[str]]:
    units: dict[str, set[str]] = {}
    for m, targets in graph.items():
        units.setdefault(_unit(m, root), set()).update(_unit(t, root) for t in targets)
    return {u: {t for t in ts if t != u} for u, ts in units.items()}


def _witness(graph: dict[str, set[str]], comp: list[str], root: Path = ROOT) -> list[str]:
    """The module imports that tie a circle of units together, for the assertion message."""
    return sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts
                  if _unit(m, root) in comp and _unit(t, root) in comp and _unit(m, root) != _unit(t, root))


def test_no_import_runs_back_up_between_top_level_packages():
    bad = [f"{m} imports {t}" for m, ts in _graph().items() for t in ts
           if LAYERS[t.split(".")[0]] > LAYERS[m.split(".")[0]]]
    assert not bad, bad


def test_no_circle_between_sub_packages():
    graph = _graph()
    circles = _cycles(_unit_graph(graph))
    assert not circles, [(c, _witness(graph, c)) for c in circles]


def test_no_circle_among_modules():
    circles = _cycles(_graph())
    assert not circles, circles


# evaluation/'s sub-packages from the bottom up: measurement (no run directory), the stage layer (the run's storage
# and the stage functions), the benchmarks, the application (CLI, HTTP service, demo). SHIM is the console
# script's old entry point, re-exporting the application's CLI.
FLOORS = ["evaluation.measure", "evaluation.stages", "evaluation.bench", "evaluation.app"]
SHIM = "evaluation.cli"  # layout: keep
MAINTAINER = ("graph.starter", "graph.secondcorpus", "graph.english")  # corpus builders, run by maintainers only


def floor_violations(graph: dict[str, set[str]], root: Path = ROOT) -> list[str]:
    """Imports from a lower floor of evaluation/ up to a higher one, and evaluation modules outside every floor."""
    floor = {f: i for i, f in enumerate(FLOORS)}
    units = {_unit(m, root) for m in graph if m.startswith("evaluation.")}
    bad = [f"{u}: in no floor" for u in sorted(units - set(floor) - {SHIM})]
    bad += sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts
                  if _unit(m, root) in floor and _unit(t, root) in floor and floor[_unit(t, root)] > floor[_unit(m, root)])
    return bad


def reach(graph: dict[str, set[str]], start: list[str]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for t in graph.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def test_evaluation_floors_measure_stages_bench_app():
    graph = _graph()
    assert {_unit(m) for m in graph if m.startswith("evaluation.")} >= set(FLOORS)
    assert floor_violations(graph) == []


def test_no_runtime_module_reaches_a_maintainer_corpus_builder():
    graph = _graph()
    runtime = [m for m in graph if not m.startswith(MAINTAINER)]
    assert len(runtime) > 100
    assert sorted(m for m in reach(graph, runtime) if m.startswith(MAINTAINER)) == []


def test_the_checks_see_each_kind_of_violation(tmp_path):
    """A fake tree with one of each: a back-up import inside a function, a sub-package circle made by a relative
    import, and a module circle that only `if TYPE_CHECKING:` closes. Each check must find its own."""
    files = {
        "graph/__init__.py": "",
        "graph/low.py": "def f():\n    from evaluation.top import x  # deferred, still a back-up import\n",
        "engine/__init__.py": "",
        "engine/a/__init__.py": "",
        "engine/a/one.py": "from engine.b import two\n",
        "engine/b/__init__.py": "",
        "engine/b/two.py": "from ..a import one\n",
        "engine/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from engine.d import D\n",
        "engine/d.py": "from engine import c\n",
        "evaluation/__init__.py": "",
        "evaluation/top.py": "x = 1\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    graph = _graph(tmp_path)
    assert graph["graph.low"] == {"evaluation.top"}
    assert graph["engine.b.two"] == {"engine.a.one"}  # relative import resolved to the submodule
    assert _cycles(graph) == [["engine.a.one", "engine.b.two"], ["engine.c", "engine.d"]]
    assert _cycles(_unit_graph(graph, tmp_path)) == [["engine.a", "engine.b"], ["engine.c", "engine.d"]]
    assert floor_violations(graph, tmp_path) == ["evaluation.top: in no floor"]
    for rel, text in {"evaluation/measure/__init__.py": "", "evaluation/measure/m.py": "from evaluation.app import x\n",
                      "evaluation/app/__init__.py": "", "evaluation/app/x.py": "from graph.starter import b\n",
                      "graph/starter/__init__.py": "", "graph/starter/b.py": ""}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    (tmp_path / "evaluation" / "top.py").unlink()
    (tmp_path / "graph" / "low.py").unlink()
    graph = _graph(tmp_path)
    assert floor_violations(graph, tmp_path) == ["evaluation.measure.m -> evaluation.app.x"]
    assert sorted(m for m in reach(graph, ["evaluation.measure.m"]) if m.startswith(MAINTAINER)) == ["graph.starter.b"]
