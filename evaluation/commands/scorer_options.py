"""The --scorer-module option, declared once for every command that takes a scorer (recommend, fit-scorers,
evaluate, serve): a user's module (a dotted name on PYTHONPATH, or a .py file) that registers scorers."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

ScorerModules = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045 (typer needs Optional)
    "--scorer-module", help="import this module first (a dotted name on PYTHONPATH or a .py file); it registers "
    "your scorer with engine.scorers.base.register_scorer; repeatable. Installed entry points "
    "(group img2song.scorers) need no option")]

