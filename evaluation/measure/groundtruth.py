"""Ground truth (paper §3): each keyword's top-n ConceptNet-related words, through conceptnet-lite.

Where the words come from, first match wins: a real ConceptNet DB the user passes (--conceptnet-db); the corpus's
ConceptNet-format dump (related_words.tsv.gz), built once into <build root>/cache/conceptnet/<sha256 of dump>.db;
else a ConceptNet-format DB built once from the open thesauri that installed packages ship (evaluation.measure.thesauri).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from graph.common.atomic import remove_stale_temps, temp_prefix, write_json
from graph.common.errors import CorpusError, Img2SongError
from graph.common.paths import cache_dir as default_cache_dir
from graph.common.readers import iter_gzip_lines, open_sqlite_readonly, read_json

EXCLUDED_RELATIONS = ("antonym", "distinct_from", "external_url")  # not "conceptually similar"
N_VALUES = (0, 5, 10, 50, 100)  # 0 = the keyword alone (a strict check beside the paper's n)

# One round trip per keyword over conceptnet-lite's schema (relation, language, label, concept, edge); the ORM's
# per-edge lazy lookups took ~2 s per keyword on a 240k-edge DB.
_LABEL_SQL = ("SELECT label.id, language.id FROM label JOIN language ON language.id = label.language_id "
              "WHERE label.text = ? AND language.name = ?")
_EDGES_SQL = """
SELECT relation.name, edge.etc, other_label.text, other_label.language_id
FROM concept AS own JOIN edge ON edge.start_id = own.id JOIN relation ON relation.id = edge.relation_id
JOIN concept AS other ON other.id = edge.end_id JOIN label AS other_label ON other_label.id = other.label_id
WHERE own.label_id = ?
UNION ALL
SELECT relation.name, edge.etc, other_label.text, other_label.language_id
FROM concept AS own JOIN edge ON edge.end_id = own.id JOIN relation ON relation.id = edge.relation_id
JOIN concept AS other ON other.id = edge.start_id JOIN label AS other_label ON other_label.id = other.label_id
WHERE own.label_id = ?
"""


def keyword_language(word: str) -> str:
    """'zh' when the word holds a CJK character, else 'en' (ConceptNet language codes)."""
    return "zh" if any("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in word) else "en"


def to_label(word: str) -> str:
    """ConceptNet label text: lower case, spaces as underscores."""
    return word.strip().lower().replace(" ", "_")


def from_label(text: str) -> str:
    return text.replace("_", " ")


def file_sha256(path: Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise Img2SongError(f"{path}: related-words dump not found (corpus file related_words.tsv.gz; "
                            "or pass --conceptnet-db PATH)")
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# conceptnet-lite's tables and the columns our queries read: a DB without them is refused before any query.
CONCEPTNET_SCHEMA = {"relation": ("id", "name"), "language": ("id", "name"), "label": ("id", "text", "language_id"),
                     "concept": ("id", "label_id", "sense_label"),
                     "edge": ("id", "relation_id", "start_id", "end_id", "etc")}
_URI_FIELDS = ("uri", "relation", "start", "end")
NON_JSON_ETC = "dump line whose last field is not a JSON object"
BAD_WEIGHT = "dump line whose weight is not a finite number"


def _is_concept(uri: str) -> bool:
    parts = uri.split("/", 4)
    return len(parts) >= 4 and parts[0] == "" and parts[1] == "c" and bool(parts[2]) and bool(parts[3])


def dump_line(dump: Path, lineno: int, raw: bytes, skipped: dict[str, int]) -> bytes | None:
    """One checked dump line (uri, relation, start, end, json) as conceptnet-lite reads it; None = counted skip.

    Structural faults (field count, URIs conceptnet-lite would fail on, bytes that are not UTF-8) are errors
    naming the line and field; a last field that is not a JSON object with a finite weight is skipped and
    counted (it would otherwise enter the DB with an invented weight of 1).
    """
    line = raw.rstrip(b"\r\n")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise CorpusError(dump, lineno, None, "bytes are not UTF-8") from None
    fields = text.split("\t")
    if len(fields) != 5:
        raise Img2SongError(f"{dump}:{lineno}: expected 5 tab-separated fields (uri, relation, start, end, json)")
    for name, value in zip(_URI_FIELDS, fields):
        if not value or value[0] == '"' or any(c in value for c in "\r\x00") or value != value.strip():
            raise CorpusError(dump, lineno, name, f"is empty or holds quotes, NUL or surrounding spaces: {value[:60]!r}")
    uri, rel, start, end, etc = fields
    if not rel.startswith("/r/") or len(rel) <= 3:
        raise CorpusError(dump, lineno, "relation", f"is not a ConceptNet relation URI (/r/Name): {rel[:60]!r}")
    if not _is_concept(start):
        raise CorpusError(dump, lineno, "start", f"is not a ConceptNet concept URI (/c/lang/label): {start[:60]!r}")
    if not _is_concept(end) and rel != "/r/ExternalURL":
        raise CorpusError(dump, lineno, "end", f"is not a ConceptNet concept URI (/c/lang/label): {end[:60]!r}")
    try:
        doc = json.loads(etc)  # NaN / Infinity parse here and are caught as a weight below
    except (json.JSONDecodeError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        skipped[NON_JSON_ETC] = skipped.get(NON_JSON_ETC, 0) + 1
        return None
    w = doc.get("weight", 1.0)
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(float(w)):
        skipped[BAD_WEIGHT] = skipped.get(BAD_WEIGHT, 0) + 1
        return None
    return line + b"\n"


def build_db_from_dump(dump: str | Path, cache_dir: str | Path | None = None) -> Path:
    """ConceptNet-format dump (.tsv or .tsv.gz) -> SQLite DB in the cache (reused when the dump is unchanged).

    Built in a `.build-<pid>-*` folder and moved into place in one rename; folders of killed builds are removed
    by the next build. Beside `<hash>.db` a `<hash>.json` records the lines read, edges kept and skips.
    """
    from evaluation.measure.conceptnet_bulk import load_dump_bulk

    dump = Path(dump)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir("conceptnet")
    out = cache_dir / f"{file_sha256(dump)[:16]}.db"
    if out.is_file():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(cache_dir)
    work = Path(tempfile.mkdtemp(dir=cache_dir, prefix=temp_prefix(".build-")))
    try:
        plain = work / "dump.tsv"
        edges, lines = 0, 0
        skipped: dict[str, int] = {}
        with open(plain, "wb") as dst:
            for lineno, line in iter_gzip_lines(dump):
                lines = lineno
                if not line.strip():
                    continue
                checked = dump_line(dump, lineno, line, skipped)
                if checked is not None:
                    dst.write(checked)
                    edges += 1
        if not edges:
            raise Img2SongError(f"{dump}: no usable edges in the related-words dump ({lines} lines)")
        tmp_db = work / "conceptnet.db"
        load_dump_bulk(plain, tmp_db)  # conceptnet-lite's schema and rows, bulk inserts
        write_json(out.with_suffix(".json"), {"dump": str(dump), "lines": lines, "edges": edges, "skipped": skipped})
        os.replace(tmp_db, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def build_record(db: Path) -> dict[str, Any]:
    """The `<hash>.json` written beside a DB built from a dump ({} for a user's DB or an older cache)."""
    p = Path(db).with_suffix(".json")
    try:
        doc = read_json(p, "DB build record") if p.is_file() else {}
    except Img2SongError:
        return {}
    return doc if isinstance(doc, dict) else {}


class RelatedWords:
    """Top related words of a keyword, ranked by edge weight (ties by word), from a conceptnet-lite DB.

    Every DB (a user's or the cache's) is opened read-only and checked for conceptnet-lite's schema first;
    nothing is ever written into it. `skipped` counts dump lines left out of the build and edges whose weight
    could not be read at query time.
    """

    def __init__(self, db_path: str | Path | None = None, dump: str | Path | None = None,
                 cache_dir: str | Path | None = None,
                 exclude_relations: Sequence[str] = EXCLUDED_RELATIONS, description: str | None = None,
                 build: dict[str, Any] | None = None) -> None:
        if db_path is None and dump is None:
            raise Img2SongError("related words need a ConceptNet DB (--conceptnet-db) or a ConceptNet-format dump")
        self.description = description or (f"ConceptNet DB {db_path}" if db_path is not None
                                            else f"ConceptNet-format dump {dump}")
        self.build = build  # the open-thesauri build record, when the DB is that one
        self.db_path = Path(db_path) if db_path is not None else None
        self.dump = Path(dump) if dump is not None else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir("conceptnet")
        self.exclude_relations = tuple(exclude_relations)
        self.skipped: dict[str, int] = {}
        self._connected: Path | None = None
        self._con: sqlite3.Connection | None = None

    def connect(self) -> Path:
        """Open (building on first use) the DB, read-only; never downloads anything."""
        if self._con is None:
            path = self.db_path if self.db_path is not None else build_db_from_dump(self.dump, self.cache_dir)
            con = open_sqlite_readonly(path, CONCEPTNET_SCHEMA, "ConceptNet DB")
            try:
                has_edges = con.execute("SELECT 1 FROM edge LIMIT 1").fetchone() is not None
            except sqlite3.Error as e:
                con.close()
                raise Img2SongError(f"{path}: unreadable ConceptNet DB ({e})") from None
            if not has_edges:
                con.close()
                raise Img2SongError(f"{path}: the ConceptNet DB has no edges")
            self._con, self._connected = con, path
            for reason, n in build_record(path).get("skipped", {}).items():
                self.skipped[reason] = self.skipped.get(reason, 0) + int(n)
        return self._connected

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def source_id(self) -> str:
        """Identifies the word source, so cached lists are reused only for the same DB or dump."""
        if self.db_path is not None:
            if not self.db_path.is_file():
                raise Img2SongError(f"{self.db_path}: ConceptNet DB not found")
            st = self.db_path.stat()
            return f"db:{self.db_path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        return f"dump:{file_sha256(self.dump)}"

    def _query(self, sql: str, args: tuple) -> list[tuple]:
        self.connect()
        try:
            return self._con.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise Img2SongError(f"{self._connected}: unreadable ConceptNet DB ({e})") from None

    def related(self, keyword: str, n: int = 100) -> list[str]:
        """Up to n words linked to the keyword (same language), strongest edge first; [] when unknown."""
        lang = keyword_language(keyword)
        rows = self._query(_LABEL_SQL, (to_label(keyword), lang))
        if not rows:
            return []
        label_id, lang_id = rows[0]
        own = from_label(to_label(keyword))
        best: dict[str, float] = {}
        for rel, etc, text, other_lang in self._query(_EDGES_SQL, (label_id, label_id)):
            if rel in self.exclude_relations or other_lang != lang_id or not isinstance(text, str):
                continue
            word = from_label(text)
            if word == own:
                continue
            w = _edge_weight(etc)
            if w is None:
                self.skipped[BAD_WEIGHT] = self.skipped.get(BAD_WEIGHT, 0) + 1
                continue
            best[word] = max(best.get(word, float("-inf")), w)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        return [w for w, _ in ranked[:n]]

    def top_related(self, keywords: Iterable[str], n: int = 100, progress: bool = True) -> dict[str, list[str]]:
        kws = sorted(set(keywords))
        return {kw: self.related(kw, n) for kw in tqdm(kws, desc="related words", disable=not progress)}


def _edge_weight(etc: Any) -> float | None:
    """The finite 'weight' of an edge's JSON field (1.0 when it names none); None when unreadable."""
    if not isinstance(etc, str):
        return None
    try:
        doc = json.loads(etc)
        w = doc.get("weight", 1.0) if isinstance(doc, dict) else None
        w = float(w) if isinstance(w, (int, float)) and not isinstance(w, bool) else None
    except (json.JSONDecodeError, RecursionError, OverflowError):
        return None
    return w if w is not None and math.isfinite(w) else None


def ground_truth_source(conceptnet_db: str | Path | None, dump: str | Path | None,
                        cache_dir: str | Path | None = None, progress: bool = True,
                        echo: Callable[[str], None] | None = None) -> RelatedWords:
    """The user's ConceptNet DB, else the corpus dump when it exists, else the open-thesauri DB (built once)."""
    if conceptnet_db is not None:
        return RelatedWords(db_path=conceptnet_db, cache_dir=cache_dir)
    if dump is not None and Path(dump).is_file():
        return RelatedWords(dump=dump, cache_dir=cache_dir, description=f"corpus dump {dump} (ConceptNet format)")
    from evaluation.measure.thesauri import thesauri_db

    rec = thesauri_db(cache_dir, progress=progress, echo=echo)
    names = ", ".join(f"{s['name']} ({s['package']})" for s in rec.sources)
    return RelatedWords(db_path=rec.db, cache_dir=cache_dir, build=asdict(rec),
                        description=f"ConceptNet-format DB from open thesauri: {names}")


def related_for_run(cached: dict[str, Any], keywords: Iterable[str], source: RelatedWords,
                    n_max: int = max(N_VALUES), progress: bool = True
                    ) -> tuple[dict[str, list[str]], dict[str, Any] | None]:
    """Each keyword's top-n_max related words, reusing `cached` (a run's related_words.json) when it was made
    from the same source and settings; returns them and the document to save back (None: nothing new)."""
    kws = sorted(set(keywords))
    key = {"source_id": source.source_id, "n_max": n_max, "exclude_relations": list(source.exclude_relations)}
    words: dict[str, list[str]] = {}
    cached_words = cached.get("words")
    if all(cached.get(k) == v for k, v in key.items()) and isinstance(cached_words, dict):
        words = {k: [str(w) for w in v] for k, v in cached_words.items() if isinstance(v, list)}
    missing = [kw for kw in kws if kw not in words]
    fresh = None
    if missing or not cached:
        words.update(source.top_related(missing, n_max, progress=progress))
        fresh = key | {"words": words}
    return {kw: words[kw] for kw in kws}, fresh
