"""Options several commands share are declared once: every --run has one default, serve's limits are ServeConfig's."""
from __future__ import annotations

import dataclasses

import pytest
import typer.main

from evaluation.app.cli import _register_all, app
from evaluation.app.commands.options import DEFAULT_RUN
from evaluation.app.serve.config import ServeConfig
from graph.bridge import Bridge
from graph.common.errors import Img2SongError


def commands() -> dict:
    _register_all()
    root = typer.main.get_command(app)
    out = {}
    for name, cmd in root.commands.items():
        if hasattr(cmd, "commands"):
            out.update({f"{name} {sub}": c for sub, c in cmd.commands.items()})
        else:
            out[name] = cmd
    return out


def option(cmd, flag: str):
    return next((p for p in cmd.params if p.param_type_name == "option" and flag in p.opts), None)


def test_every_run_option_has_the_one_default_and_help():
    runs = {name: option(cmd, "--run") for name, cmd in commands().items()}
    runs = {name: o for name, o in runs.items() if o is not None}
    assert len(runs) >= 10  # recommend, evaluate, features, serve, report, fit-scorers, train-lstm, ...
    # --run is either the shared option (default runs/demo) or one of two alternative inputs (train, export, bench
    # features: --run or --graph/--embeddings/--corpus), where no default is the point
    alternatives = {"train", "export", "bench features"}
    for name, o in runs.items():
        if name in alternatives:
            assert o.default is None, name
        else:
            assert str(o.default) == str(DEFAULT_RUN) and o.help == "run directory (written by build-graph)", name


def test_serve_options_take_default_help_and_bound_from_serve_config():
    serve = commands()["serve"]
    fields = {f.name: f for f in dataclasses.fields(ServeConfig)}
    pairs = {"--max-pixels": "max_pixels", "--max-k": "max_k", "--max-batch": "max_batch", "--workers": "workers",
             "--torch-threads": "torch_threads", "--queue": "queue", "--deadline": "deadline_s",
             "--idle-timeout": "idle_timeout_s"}
    for flag, name in pairs.items():
        o = option(serve, flag)
        assert o is not None, flag
        assert o.default == fields[name].default and o.help == fields[name].metadata["help"], flag
        assert o.min == fields[name].metadata["min"], flag
    assert option(serve, "--max-upload-mb").default * 2**20 == fields["max_upload_bytes"].default


@pytest.mark.parametrize("field, value", [("max_k", 0), ("queue", -1), ("deadline_s", float("nan")),
                                          ("workers", True), ("max_pixels", "many")])
def test_serve_config_refuses_a_bad_limit_by_name(field, value):
    with pytest.raises(Img2SongError, match=f"serve setting {field} must be a number"):
        ServeConfig(**{field: value})


@pytest.mark.parametrize("value", ["0", "1", "1.5", "nan", "x"])
def test_a_bad_edge_threshold_is_one_clear_line(value, tmp_path, capsys):
    """--edge-threshold is a P(right) strictly between 0 and 1, checked as it is parsed (before the corpus is read:
    this one does not exist), on each command that takes it: exit 2, the option named, no traceback."""
    from evaluation.app.cli import main

    for argv in (["keywords", "--corpus", str(tmp_path), "--out", str(tmp_path / "k.txt")],
                 ["build-graph", "--corpus", str(tmp_path), "--out", str(tmp_path / "run")], ["bridge", "moon"]):
        assert main([*argv, "--edge-threshold", value]) == 2, argv
        err = capsys.readouterr().err
        assert "--edge-threshold" in err and "Traceback" not in err, argv
        assert value == "x" or f"--edge-threshold {float(value)!r}: the edge model's drop threshold is a P(right) " \
            "strictly between 0 and 1" in err
    assert not any(tmp_path.iterdir())  # nothing written
    with pytest.raises(Img2SongError, match="--edge-threshold 1.5: .* strictly between 0 and 1"):
        Bridge(edge_threshold=1.5)
