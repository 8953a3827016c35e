"""User-facing errors that name the file, line and field; the CLI prints them without a traceback."""
from __future__ import annotations


class Img2SongError(Exception):
    """Base of every error the CLI prints as one clean message (exit code 2)."""


class CorpusError(Img2SongError):
    def __init__(self, file: str, line: int | None, field: str | None, message: str):
        self.file, self.line, self.field = str(file), line, field
        where = self.file + (f":{line}" if line is not None else "")
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {message}".replace(": ", ": ", 1))
