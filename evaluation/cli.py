"""The `img2song` command line: a thin shell over library functions (every command is also a function)."""
from __future__ import annotations

import importlib
import sys

import typer

from graph.common.errors import Img2SongError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="img2song: recommend songs for a photo.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print throughput figures.")
app.add_typer(bench_app, name="bench")

COMMAND_MODULES = ("build_graph", "train", "export", "features", "train_lstm", "lstm_retrieval", "evaluate",
                   "recommend", "bench", "related")


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"evaluation.commands.{name}").register(app, bench_app)


def main(argv: list[str] | None = None) -> int:
    _register_all()
    try:
        app(args=argv, standalone_mode=False)
    except Img2SongError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except (typer.Exit, SystemExit) as e:
        return int(getattr(e, "exit_code", getattr(e, "code", 0)) or 0)
    except typer.TyperException as e:  # usage errors (unknown option, bad value): typer's own message
        show = getattr(e, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"error: {e.format_message()}", err=True)
        return int(e.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
