"""Start-up: `img2song CMD` registers only CMD's module, and the map from commands to modules is complete and right."""
from __future__ import annotations

import importlib
import subprocess
import sys

import typer

from evaluation.app import cli


def _commands_of(module: str) -> tuple[set[str], set[str]]:
    app, bench = typer.Typer(), typer.Typer()
    importlib.import_module(f"evaluation.app.commands.{module}").register(app, bench)
    return {c.name for c in app.registered_commands}, {c.name for c in bench.registered_commands}


def test_owner_maps_name_every_command_of_every_module_exactly():
    top, bench = {}, {}
    for module in cli.COMMAND_MODULES:
        t, b = _commands_of(module)
        top.update(dict.fromkeys(t, module))
        bench.update(dict.fromkeys(b, module))
    assert top == cli.COMMAND_OWNERS
    assert bench == cli.BENCH_OWNERS


def test_train_starts_without_the_other_commands_dependencies():
    """`img2song train --help` imports neither torch nor faiss nor the CNN code (they cost seconds at start-up)."""
    code = ("import sys; from evaluation.app import cli; rc = cli.main(['train', '--help']); "
            "print(rc, sorted(m for m in ('torch', 'faiss', 'torchvision', 'engine.features') if m in sys.modules), "
            "cli._registered)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "--edgelist" in out
    assert out.strip().splitlines()[-1] == "0 [] ['train']"


def test_help_and_unknown_commands_still_see_every_command(capsys):
    assert cli.main(["--help"]) == 0
    listed = capsys.readouterr().out
    for name in cli.COMMAND_OWNERS:
        assert name in listed
    assert set(cli._registered) == set(cli.COMMAND_MODULES)
