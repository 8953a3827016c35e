"""The --json option, declared once for the commands whose answer other programs read (recommend, evaluate)."""
from __future__ import annotations

from typing import Annotated

import typer

JsonOutput = Annotated[bool, typer.Option(
    "--json", help="print one JSON document on stdout instead of the text (status lines go to stderr)")]
