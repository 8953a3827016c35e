"""LINE's settings have one statement each (engine/line/config.py): no signature, CLI option or argparse flag that
offers a LINE setting restates its default as a literal, and the CLI shows the config's default and help."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from engine.line.config import DEFAULTS, FIELDS, LineConfig, default, describe
from tests.test_import_flow import ROOT

HYPER = ("dim", "order", "negative", "lr")  # LINE's own; device, seed, threads are every component's words
SETTINGS = {f.name: f.default for f in dataclasses.fields(LineConfig) if f.name in HYPER}
FLAG_NAMES = {f"--{n.replace('_', '-')}": n for n in SETTINGS}


def _same(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is type(SETTINGS[name]) and node.value == SETTINGS[name]


def restated_defaults(root: Path = ROOT) -> list[str]:
    """`file:line: what` wherever a LINE setting's default value is written again: a parameter named like the
    setting (dim, negative, lr, ...) with that literal default, `add_argument("--dim", default=128)`, or
    `typer.Option(128)` for a parameter named like the setting (LINE's hyper-parameters: HYPER)."""
    bad = []
    for pkg in ("engine", "evaluation", "graph"):
        for path in sorted((root / pkg).rglob("*.py")):
            if path.relative_to(root).as_posix() == "engine/line/config.py":
                continue
            rel = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    a = node.args
                    pos = [*a.posonlyargs, *a.args]
                    pairs = list(zip(pos[len(pos) - len(a.defaults):], a.defaults)) + [
                        (k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
                    for arg, d in pairs:
                        if arg.arg not in SETTINGS:
                            continue
                        if isinstance(d, ast.Call) and ast.unparse(d.func).endswith("Option") and d.args:
                            d = d.args[0]
                        if _same(d, arg.arg):
                            bad.append(f"{rel}:{node.lineno}: {node.name}({arg.arg}={ast.unparse(d)})")
                elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("add_argument") and node.args:
                    flag = node.args[0]
                    name = FLAG_NAMES.get(flag.value) if isinstance(flag, ast.Constant) else None
                    for kw in node.keywords:
                        if name and kw.arg == "default" and _same(kw.value, name):
                            bad.append(f"{rel}:{node.lineno}: add_argument({flag.value!r}, default="
                                       f"{ast.unparse(kw.value)})")
    return bad


def test_no_line_default_is_restated():
    assert restated_defaults() == []


def test_the_check_sees_a_restated_default(tmp_path):
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "x.py").write_text(
        "def fit(g, dim: int = 128, order: int = 2, lr=0.5):\n    pass\n\n"
        "def cmd(negative: int = typer.Option(5, help='K')):\n    pass\n\n"
        "p.add_argument('--lr', type=float, default=0.025)\n", encoding="utf-8")
    assert restated_defaults(tmp_path) == ["engine/x.py:1: fit(dim=128)", "engine/x.py:4: cmd(negative=5)",
                                           "engine/x.py:7: add_argument('--lr', default=0.025)"]


def test_every_setting_has_help_and_the_cli_shows_the_config():
    import typer.main

    from engine.line import LINE
    from evaluation.app.cli import _register_all, app

    assert all(describe(n) for n in FIELDS) and default("dim") == DEFAULTS.dim == LineConfig().dim
    assert LINE().get_params() == DEFAULTS.to_dict()  # the estimator's defaults are the config's
    _register_all()
    train = typer.main.get_command(app).commands["train"]
    opts = {p.name: p for p in train.params}
    for name in ("dim", "negative", "lr", "threads", "device", "impl", "seed"):
        assert opts[name].default == default(name) and opts[name].help == describe(name), name
    assert opts["order"].default == str(default("order"))
