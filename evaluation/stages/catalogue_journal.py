"""The live catalogue's journal on disk: the records an `add` or `remove` writes, the lock, recovery, and the
files kept beside the journal (added photos, refitted probes).

    <run>/catalogue/journal.jsonl   append-only; one line per record, each with the sha256 of its content:
                                    {"txn", "seq", "kind": begin|song|image|remove|refit|commit, "data", "sum"}
    <run>/catalogue/images/         added photos, named by the sha256 of their bytes
    <run>/catalogue/probes/         keyword probes refitted after image changes, named by their sha256
    <run>/catalogue/.lock           held (flock) by every writer and by recovery

A transaction counts only once its commit record is on disk behind all its items (one fsync per transaction, after
the commit record); `CatalogueStore.recover` cuts an unfinished tail. evaluation.stages.catalogue replays what this
module reads into the engine's live catalogue.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.live.edges import Edges
from engine.live.updates import Change, ImageEntry, SongEntry
from evaluation.stages.rundir import RunDir
from graph.common.errors import Img2SongError
from graph.records import Image, Song

Echo = Callable[[str], None]
_HELD: dict[str, int] = {}  # catalogue directories whose lock this process holds (the lock is re-entrant)

# ------------------------------------------------------------------------------------------------ records
def _b64(a: np.ndarray | None) -> str | None:
    return None if a is None else base64.b64encode(np.ascontiguousarray(a, "<f4").tobytes()).decode()


def _arr(s: str | None) -> np.ndarray | None:
    return None if s is None else np.frombuffer(base64.b64decode(s), dtype="<f4").astype(np.float32)


def song_record(e: SongEntry) -> dict[str, Any]:
    s = e.song
    return {"song": {"id": s.id, "title": s.title, "artist": s.artist, "lyrics": s.lyrics, "language": s.language,
                     "popularity": s.popularity}, "keywords": e.edges.keywords, "words": e.edges.words,
            "vector": _b64(e.vector), "text_vector": _b64(e.text_vector)}


def image_record(e: ImageEntry, run: Path) -> dict[str, Any]:
    i = e.image
    file = Path(i.file)
    return {"image": {"id": i.id, "file": str(file.relative_to(run)) if file.is_relative_to(run) else i.file,
                      "tags": list(i.tags), "caption": i.caption, "language": i.language,
                      "tag_language": i.tag_language, "source": i.source, "licence": i.licence, "kind": i.kind},
            "keywords": e.edges.keywords, "vector": _b64(e.vector), "features": _b64(e.features),
            "tags": _b64(e.tags), "logits": _b64(e.logits)}


def song_entry(d: dict[str, Any]) -> SongEntry:
    s = d["song"]
    return SongEntry(Song(s["id"], s["title"], s["artist"], s["lyrics"], s["language"], float(s["popularity"])),
                     Edges(dict(d["keywords"]), dict(d.get("words") or {})), _arr(d["vector"]), _arr(d.get("text_vector")))


def image_entry(d: dict[str, Any], run: Path) -> ImageEntry:
    i = dict(d["image"])
    i["file"] = str(run / i["file"])
    i["tags"] = tuple(i["tags"])
    return ImageEntry(Image(**i), Edges(dict(d["keywords"])), _arr(d["vector"]), _arr(d["features"]),
                      _arr(d.get("tags")), _arr(d.get("logits")))


# ------------------------------------------------------------------------------------------------ journal
@dataclass
class Transaction:
    txn: str
    op: str  # "add" | "remove"
    records: list[tuple[str, dict[str, Any]]]  # (kind, data)


def _line(txn: str, seq: int, kind: str, data: dict[str, Any]) -> bytes:
    body = {"txn": txn, "seq": seq, "kind": kind, "data": data}
    text = json.dumps(body, ensure_ascii=False, sort_keys=True)
    return (json.dumps({**body, "sum": hashlib.sha256(text.encode()).hexdigest()}, ensure_ascii=False,
                       sort_keys=True) + "\n").encode()


def _parse(raw: bytes) -> dict[str, Any] | None:
    """A journal line's record, or None when it is torn or damaged (bad JSON, wrong checksum)."""
    try:
        rec = json.loads(raw)
        body = {k: rec[k] for k in ("txn", "seq", "kind", "data")}
    except (ValueError, KeyError, TypeError):
        return None
    text = json.dumps(body, ensure_ascii=False, sort_keys=True)
    return body if rec.get("sum") == hashlib.sha256(text.encode()).hexdigest() else None


class CatalogueStore:
    """The run's catalogue directory: journal, added photos, lock."""

    def __init__(self, run: RunDir | str | Path) -> None:
        self.run = RunDir.of(run)
        self.dir = self.run.path / "catalogue"
        self.journal = self.dir / "journal.jsonl"
        self.images = self.dir / "images"
        self.probes = self.dir / "probes"

    def exists(self) -> bool:
        return self.journal.is_file()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock of the catalogue (another process's add, remove or recovery waits); re-entrant."""
        key = str(self.dir.resolve())
        if _HELD.get(key):
            _HELD[key] += 1
            try:
                yield
            finally:
                _HELD[key] -= 1
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            _HELD[key] = 1
            try:
                yield
            finally:
                _HELD.pop(key, None)
                fcntl.flock(fh, fcntl.LOCK_UN)

    def recover(self, echo: Echo | None = None) -> list[Transaction]:
        """The committed transactions, in order; an unfinished tail (a killed add) is cut off the journal."""
        if not self.journal.is_file():
            return []
        data = self.journal.read_bytes()
        txns: list[Transaction] = []
        cur: Transaction | None = None
        good_end = pos = 0
        lineno = 0
        while pos < len(data):
            end = data.find(b"\n", pos)
            lineno += 1
            rec = _parse(data[pos:end]) if end >= 0 else None
            if rec is None:
                # damage within the last transaction is a crash before its one sync (a power cut may lose or tear
                # any of its lines, the commit included): it is cut with the unfinished tail; damage followed by
                # a later transaction was synced before it, so it is not a crash
                rest = data[end + 1:] if end >= 0 else b""
                if any(r and r["kind"] == "begin" and (cur is None or r["txn"] != cur.txn)
                       for r in map(_parse, rest.split(b"\n"))):
                    raise Img2SongError(f"{self.journal}:{lineno}: damaged journal record followed by a later "
                                        "change (the file was edited or the disk corrupted it); restore it from a "
                                        "backup")
                break
            kind = rec["kind"]
            if kind == "begin":
                cur = Transaction(rec["txn"], rec["data"].get("op", "add"), [])
            elif cur is not None and rec["txn"] == cur.txn and kind == "commit":
                if rec["data"].get("items") == len(cur.records):
                    txns.append(cur)
                    good_end = end + 1
                cur = None
            elif cur is not None and rec["txn"] == cur.txn:
                cur.records.append((kind, rec["data"]))
            pos = end + 1
        if good_end < len(data):
            with self.lock(), open(self.journal, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
            if echo is not None:
                echo(f"catalogue: discarded an unfinished change ({len(data) - good_end} bytes after the last "
                     f"commit, e.g. a killed `img2song add`) from {self.journal}; the run is as before it")
        return txns

    @contextmanager
    def transaction(self, op: str, items: int) -> Iterator[Callable[[str, dict[str, Any]], None]]:
        """Write one transaction: begin, the records the caller writes (each written as it comes, so a killed
        process leaves them behind an unfinished begin), the commit record, then ONE fsync, whatever the number of
        items: the change is acknowledged only once that returns. A power cut before it may leave the last
        transaction with any of its lines lost or damaged; recovery then discards that transaction (see
        `recover`). An error raised before the commit truncates the journal back (the run is as before); a
        killed process leaves an unfinished tail that the next recovery discards."""
        self.dir.mkdir(parents=True, exist_ok=True)
        txn, seq = uuid.uuid4().hex[:16], [0]
        fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        start = os.fstat(fd).st_size

        def put(kind: str, data: dict[str, Any]) -> None:
            os.write(fd, _line(txn, seq[0], kind, data))
            seq[0] += 1

        try:
            put("begin", {"op": op, "items": items, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            written = [0]

            def item(kind: str, data: dict[str, Any]) -> None:
                put(kind, data)
                written[0] += 1

            yield item
            put("commit", {"items": written[0]})
            os.fsync(fd)  # the whole transaction durable at once
        except BaseException:
            os.ftruncate(fd, start)
            os.fsync(fd)
            raise
        finally:
            os.close(fd)

    def store_probe(self, probe: Any) -> tuple[Path, str]:
        """A refitted keyword probe kept in the run, durable before its journal record is (content-named)."""
        self.probes.mkdir(parents=True, exist_ok=True)
        tmp = self.probes / f".probe{os.getpid()}.{uuid.uuid4().hex[:8]}.npz"
        probe.save(tmp)
        data = tmp.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        path = self.probes / f"{digest[:32]}.npz"
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fd = os.open(self.probes, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return path, digest

    def load_probe(self, rec: dict[str, Any], echo: Echo | None = None) -> Any:
        """The refitted probe a journal record names, or None (said) when its file is missing or is not the one
        written (its sha256)."""
        from engine.features.probe import KeywordProbe  # deferred: torch

        path = self.run.path / rec["file"]
        try:
            ok = hashlib.sha256(path.read_bytes()).hexdigest() == rec["sha256"]
            probe = KeywordProbe.load(path) if ok else None
        except (OSError, Img2SongError):
            probe = None
        if probe is None and echo is not None:
            echo(f"catalogue: keyword probe {path} is missing or damaged; using the one before it (the next change "
                 "that adds or removes an image refits it)")
        return probe

    def store_photo(self, data: bytes, suffix: str) -> Path:
        """The photo's bytes kept in the run (content-named: the same photo twice is one file)."""
        self.images.mkdir(parents=True, exist_ok=True)
        path = self.images / (hashlib.sha256(data).hexdigest()[:32] + suffix.lower())
        if not path.is_file():
            tmp = path.with_name(path.name + f".tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return path


def changes(txns: Sequence[Transaction], run: Path) -> list[Change]:
    """Each committed transaction as the engine's Change."""
    out = []
    for t in txns:
        if t.op == "refit":  # a keyword probe, installed after the changes (see replay)
            continue
        songs = tuple(song_entry(d) for k, d in t.records if k == "song")
        images = tuple(image_entry(d, run) for k, d in t.records if k == "image")
        rs = frozenset(s for k, d in t.records if k == "remove" for s in d.get("songs", []))
        ri = frozenset(s for k, d in t.records if k == "remove" for s in d.get("images", []))
        out.append(Change(songs, images, rs, ri))
    return out
