"""The `img2song` entry point of environments installed before the layout move (see evaluation/app/cli.py)."""
# layout.py: the installed console script's old entry point
from evaluation.app.cli import app, main

__all__ = ["app", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
