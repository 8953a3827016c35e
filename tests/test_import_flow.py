"""The import flow graph -> engine -> evaluation: never back up, and no cycle among module-level imports."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"graph": 0, "engine": 1, "evaluation": 2}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in LAYERS:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def _imports(path: Path, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = []
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # `if TYPE_CHECKING:` blocks are not imports at run time
            continue
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return [n for n in names if n.split(".")[0] in LAYERS]


def test_no_import_runs_back_up_the_flow():
    bad = []
    for mod, path in _modules().items():
        layer = LAYERS[mod.split(".")[0]]
        for name in _imports(path, top_level_only=False):
            if LAYERS[name.split(".")[0]] > layer:
                bad.append(f"{mod} imports {name}")
    assert not bad, bad


def test_no_cycle_among_module_level_imports():
    mods = _modules()
    graph = {m: {n for n in _imports(p, top_level_only=True) if n in mods and n != m} for m, p in mods.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n] if n in stack else [m, n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_the_checks_see_a_violation(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("from evaluation.protocol import evaluate_run\n", encoding="utf-8")
    assert _imports(bad, top_level_only=True) == ["evaluation.protocol", "evaluation.protocol.evaluate_run"]
