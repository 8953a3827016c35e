"""How RunDir and its artefact mixins (rundir_graph, rundir_models, rundir_reports, rundir_derived) read a run's
JSON files: a missing or malformed file is an error naming it and the command that writes it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from graph.common.errors import Img2SongError
from graph.common.readers import read_json as read_json_file

INCOMPLETE = "incomplete"  # line.json's status while embeddings.npz is being rewritten


def read_json(path: Path, what: str, hint: str = "") -> Any:
    """Parse a run file; a missing or malformed file is an error naming it (and the command that writes it)."""
    if not path.is_file():
        raise Img2SongError(f"{path}: {what} not found" + (f" ({hint})" if hint else ""))
    return read_json_file(path, what)  # guarded: non-UTF-8, malformed JSON and NaN / Infinity name file and line
