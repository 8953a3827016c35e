"""Ground truth (paper §3): each keyword's top-n ConceptNet-related words, through conceptnet-lite.

Where the words come from, first match wins: a real ConceptNet DB the user passes (--conceptnet-db); the corpus's
ConceptNet-format dump (related_words.tsv.gz), built once into <build root>/cache/conceptnet/<sha256 of dump>.db;
else a ConceptNet-format DB built once from the open thesauri that installed packages ship (evaluation.thesauri).
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from graph.common.atomic import write_json
from graph.common.errors import Img2SongError
from graph.common.paths import cache_dir as default_cache_dir
from graph.rundir import RunDir, read_json

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
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_db_from_dump(dump: str | Path, cache_dir: str | Path | None = None) -> Path:
    """ConceptNet-format dump (.tsv or .tsv.gz) -> SQLite DB in the cache (reused when the dump is unchanged)."""
    # deferred: conceptnet-lite (peewee) loads only when a DB is opened or built
    import conceptnet_lite.db as cdb

    dump = Path(dump)
    if not dump.is_file():
        raise Img2SongError(f"{dump}: related-words dump not found (corpus file related_words.tsv.gz; "
                            "or pass --conceptnet-db PATH)")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir("conceptnet")
    out = cache_dir / f"{file_sha256(dump)[:16]}.db"
    if out.is_file():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".build-"))
    try:
        plain = work / "dump.tsv"
        opener = gzip.open if dump.suffix == ".gz" else open
        edges = 0
        with opener(dump, "rb") as src, open(plain, "wb") as dst:
            for lineno, line in enumerate(src, start=1):
                if not line.strip():
                    continue
                if line.count(b"\t") != 4:
                    raise Img2SongError(f"{dump}:{lineno}: expected 5 tab-separated fields "
                                        "(uri, relation, start, end, json)")
                dst.write(line)
                edges += 1
        tmp_db = work / "conceptnet.db"
        with contextlib.redirect_stdout(sys.stderr):  # conceptnet-lite prints its progress
            cdb.load_dump_to_db(plain, tmp_db, edge_count=edges, delete_dump=False)
        cdb.db.close()
        os.replace(tmp_db, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


class RelatedWords:
    """Top related words of a keyword, ranked by edge weight (ties by word), from a conceptnet-lite DB."""

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
        self._connected: Path | None = None

    def connect(self) -> Path:
        """Open (building on first use) the DB; never downloads anything."""
        # deferred: conceptnet-lite (peewee) loads only when a DB is opened or built
        import conceptnet_lite
        from conceptnet_lite.db import db

        if self._connected is None:
            if self.db_path is not None:
                if not self.db_path.is_file():
                    raise Img2SongError(f"{self.db_path}: ConceptNet DB not found")
                self._connected = self.db_path
            else:
                self._connected = build_db_from_dump(self.dump, self.cache_dir)
        current = getattr(db.obj, "database", None)  # conceptnet-lite keeps one global connection
        if current != str(self._connected.expanduser().resolve()):
            with contextlib.redirect_stdout(sys.stderr):
                conceptnet_lite.connect(str(self._connected), db_download_url=None)
        return self._connected

    @property
    def source_id(self) -> str:
        """Identifies the word source, so cached lists are reused only for the same DB or dump."""
        if self.db_path is not None:
            st = self.db_path.stat()
            return f"db:{self.db_path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        return f"dump:{file_sha256(self.dump)}"

    def related(self, keyword: str, n: int = 100) -> list[str]:
        """Up to n words linked to the keyword (same language), strongest edge first; [] when unknown."""
        # deferred: conceptnet-lite (peewee) loads only when a DB is opened or built
        from conceptnet_lite.db import db

        self.connect()
        lang = keyword_language(keyword)
        row = db.execute_sql(_LABEL_SQL, (to_label(keyword), lang)).fetchone()
        if row is None:
            return []
        label_id, lang_id = row
        own = from_label(to_label(keyword))
        best: dict[str, float] = {}
        for rel, etc, text, other_lang in db.execute_sql(_EDGES_SQL, (label_id, label_id)).fetchall():
            if rel in self.exclude_relations or other_lang != lang_id:
                continue
            word = from_label(text)
            if word == own:
                continue
            try:
                w = float(json.loads(etc).get("weight", 1.0)) if isinstance(etc, str) else 1.0
            except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                w = 1.0
            best[word] = max(best.get(word, float("-inf")), w)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        return [w for w, _ in ranked[:n]]

    def top_related(self, keywords: Iterable[str], n: int = 100, progress: bool = True) -> dict[str, list[str]]:
        kws = sorted(set(keywords))
        return {kw: self.related(kw, n) for kw in tqdm(kws, desc="related words", disable=not progress)}


def ground_truth_source(conceptnet_db: str | Path | None, dump: str | Path | None,
                        cache_dir: str | Path | None = None, progress: bool = True,
                        echo: Callable[[str], None] | None = None) -> RelatedWords:
    """The user's ConceptNet DB, else the corpus dump when it exists, else the open-thesauri DB (built once)."""
    if conceptnet_db is not None:
        return RelatedWords(db_path=conceptnet_db, cache_dir=cache_dir)
    if dump is not None and Path(dump).is_file():
        return RelatedWords(dump=dump, cache_dir=cache_dir, description=f"corpus dump {dump} (ConceptNet format)")
    from evaluation.thesauri import thesauri_db

    rec = thesauri_db(cache_dir, progress=progress, echo=echo)
    names = ", ".join(f"{s['name']} ({s['package']})" for s in rec.sources)
    return RelatedWords(db_path=rec.db, cache_dir=cache_dir, build=asdict(rec),
                        description=f"ConceptNet-format DB from open thesauri: {names}")


def related_for_run(run_dir: str | Path, keywords: Iterable[str], source: RelatedWords, n_max: int = max(N_VALUES),
                    progress: bool = True) -> tuple[dict[str, list[str]], Path]:
    """Each keyword's top-n_max related words, computed once per run and cached in <run>/related_words.json."""
    path = RunDir.of(run_dir).related_words
    kws = sorted(set(keywords))
    sid = source.source_id
    cached: dict[str, Any] = read_json(path, "related words cache") if path.is_file() else {}
    key = {"source_id": sid, "n_max": n_max, "exclude_relations": list(source.exclude_relations)}
    words: dict[str, list[str]] = {}
    if all(cached.get(k) == v for k, v in key.items()):
        words = {k: list(v) for k, v in cached.get("words", {}).items()}
    missing = [kw for kw in kws if kw not in words]
    if missing or not path.is_file():
        words.update(source.top_related(missing, n_max, progress=progress))
        write_json(path, key | {"words": words})
    return {kw: words[kw] for kw in kws}, path
