"""The `img2song` command line: a thin shell over library functions (every command is also a function)."""
from __future__ import annotations

import importlib
import os
import sys

import typer

from graph.common.errors import Img2SongError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="img2song: recommend songs for a photo.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print throughput figures.")
app.add_typer(bench_app, name="bench")

COMMAND_MODULES = ("build_graph", "train", "export", "features", "train_lstm", "lstm_retrieval", "evaluate",
                   "recommend", "bench", "related", "report", "bench_retrieval", "keywords",
                   "bridge", "fit_scorers", "serve", "bench_backbones", "bench_lstm", "bench_features",
                   "catalogue")


# The module that registers each command (and each `bench` command): `img2song train ...` imports only
# evaluation.app.commands.train, not every command's dependencies (torch, faiss, the CNNs: seconds of start-up).
# Anything else (--help, a typo, a command missing here) registers them all. tests/test_cli_startup.py checks this.
COMMAND_OWNERS = {"build-graph": "build_graph", "train": "train", "export": "export", "features": "features",
                  "train-lstm": "train_lstm", "lstm-retrieval": "lstm_retrieval", "evaluate": "evaluate",
                  "recommend": "recommend", "related": "related", "report": "report", "keywords": "keywords",
                  "bridge": "bridge", "fit-scorers": "fit_scorers", "serve": "serve", "add": "catalogue",
                  "remove": "catalogue"}
BENCH_OWNERS = {"line": "bench", "retrieval": "bench_retrieval", "serve": "serve", "backbones": "bench_backbones",
                "lstm": "bench_lstm", "features": "bench_features", "foldin": "catalogue"}

_registered: list[str] = []


def _register(names: tuple[str, ...] | list[str]) -> None:
    """Register the named command modules, each once."""
    for name in names:
        if name in _registered:
            continue
        importlib.import_module(f"evaluation.app.commands.{name}").register(app, bench_app)
        _registered.append(name)


def _register_all() -> None:
    """Register every command module once (main() may run many times in one process: notebooks, tests)."""
    _register(COMMAND_MODULES)


def _register_for(argv: list[str]) -> None:
    """Register only the module of the command argv names (all of them when it names none we know)."""
    if argv[:1] == ["bench"]:
        owner = BENCH_OWNERS.get(argv[1]) if len(argv) > 1 else None
    else:
        owner = COMMAND_OWNERS.get(argv[0]) if argv else None
    _register([owner] if owner else COMMAND_MODULES)


# Exit statuses (also in README): every failure is one line on stderr, never a traceback.
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_OS_ERROR, EXIT_NO_MEMORY, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
DEBUG_ENV = "IMG2SONG_DEBUG"  # set to 1 to let unexpected exceptions through with their traceback


def _os_error_line(e: OSError) -> str:
    where = " -> ".join(str(f) for f in (e.filename, getattr(e, "filename2", None)) if f)
    what = e.strerror or str(e) or type(e).__name__
    return f"error: {where + ': ' if where else ''}{what}"


def _escaping_streams() -> None:
    """A file name that is not UTF-8 reaches argv as surrogates: print it escaped, never fail on it."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError, AttributeError):
                pass


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 0 ok, 1 internal error, 2 bad input or usage, 3 OS error (a file or folder could not
    be read or written: read-only file system, a directory where a file was expected, no space), 4 out of
    memory, 130 interrupted (Ctrl-C)."""
    _register_for(sys.argv[1:] if argv is None else list(argv))
    _escaping_streams()
    try:
        rv = app(args=argv, standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool) and rv:  # typer turns Ctrl-C into a returned 130
            if rv == EXIT_INTERRUPTED:
                typer.echo("interrupted", err=True)
            return rv
    except Img2SongError as e:
        typer.echo(f"error: {e}", err=True)
        return EXIT_BAD_INPUT
    except (typer.Exit, SystemExit) as e:
        return int(getattr(e, "exit_code", getattr(e, "code", 0)) or 0)
    except typer.Abort as e:  # click turns EOFError and KeyboardInterrupt into a bare Abort
        cause = e.__cause__ or e.__context__
        if isinstance(cause, EOFError):
            typer.echo("error: unexpected end of input (a truncated file?)", err=True)
            return EXIT_BAD_INPUT
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except typer.TyperException as e:  # usage errors (unknown option, bad value): typer's own message
        show = getattr(e, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"error: {e.format_message()}", err=True)
        return int(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except MemoryError:
        typer.echo("error: out of memory (try a smaller input, batch or --samples)", err=True)
        return EXIT_NO_MEMORY
    except OSError as e:
        typer.echo(_os_error_line(e), err=True)
        return EXIT_OS_ERROR
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if isinstance(e, RuntimeError) and str(e).startswith("Symlink loop from "):  # pathlib's ELOOP (< 3.13)
            typer.echo(f"error: {str(e)[18:].strip(chr(39))}: too many levels of symbolic links (a loop)", err=True)
            return EXIT_OS_ERROR
        if os.environ.get(DEBUG_ENV):
            raise
        typer.echo(f"error: internal error {type(e).__name__}: {str(e)[:300]} (set {DEBUG_ENV}=1 for the "
                   "traceback)", err=True)
        return EXIT_INTERNAL
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
