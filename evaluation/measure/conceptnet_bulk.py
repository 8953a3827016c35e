"""A ConceptNet dump -> SQLite DB in conceptnet-lite's schema, with bulk inserts (the same rows as its loader).

conceptnet-lite's `load_dump_to_db` normalises the dump through an LMDB store and then inserts row by row through
peewee (most of a ground-truth build's CPU). This loader reads the dump the same way (csv.reader, tab-delimited,
fields 1-4), numbers relations, languages, labels and concepts in the same order of first appearance (relation,
start concept, end concept, per edge; the end of an /r/ExternalURL edge is a URL label without language), lets
conceptnet-lite create the tables (so the schema and indexes are its own) and fills them with executemany in one
transaction. The DB it writes holds exactly the rows conceptnet-lite's loader writes (tests/test_thesauri.py
compares both, table by table, and queries both through conceptnet_lite.connect).
"""
from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from graph.common.errors import Img2SongError

EXTERNAL_URL = "external_url"


def _rows(dump: Path):
    with open(dump, newline="", encoding="utf-8") as f:  # as conceptnet-lite reads it
        for row in csv.reader(f, delimiter="\t"):
            yield row[1:5]


def load_dump_bulk(dump: str | Path, db_path: str | Path) -> int:
    """Write `dump` (ConceptNet 5.7 assertion lines) into a new DB at `db_path`; returns the edges written."""
    return load_rows_bulk(_rows(Path(dump)), db_path)


def load_rows_bulk(rows: Iterable[tuple[str, str, str, str] | list[str]], db_path: str | Path) -> int:
    """Write dump fields 1-4 (relation URI, start URI, end URI, JSON etc) into a new DB at `db_path`: the rows
    `load_dump_bulk` writes for the dump these fields were read from, without writing or parsing a dump."""
    import conceptnet_lite.db as cdb  # deferred: peewee loads only when a DB is built
    from conceptnet_lite.utils import _to_snake_case

    db_path = Path(db_path)
    if db_path.exists():
        raise Img2SongError(f"{db_path}: refusing to load a dump into an existing file")
    relations: dict[str, int] = {}
    languages: dict[str, int] = {}
    labels: dict[tuple[str, str], int] = {}  # (label text, language) as conceptnet-lite keys them
    concepts: dict[str, int] = {}
    rel_rows: list[tuple[int, str]] = []
    lang_rows: list[tuple[int, str]] = []
    label_rows: list[tuple[int, str, int | None]] = []
    concept_rows: list[tuple[int, int, str]] = []
    edge_rows: list[tuple[int, int, int, int, str]] = []

    def concept(uri: str, external: bool) -> int:
        cid = concepts.get(uri)
        if cid is not None:
            return cid
        split = uri.split("/", maxsplit=4)
        if external:
            lang_id, key, text, sense = None, (uri, ""), uri, "url"
        else:
            lang = split[2]
            lang_id = languages.get(lang)
            if lang_id is None:
                lang_id = languages[lang] = len(languages) + 1
                lang_rows.append((lang_id, lang))
            key, text, sense = (split[3], lang), split[3], "" if len(split) == 4 else split[4]
        label_id = labels.get(key)
        if label_id is None:
            label_id = labels[key] = len(labels) + 1
            label_rows.append((label_id, text, lang_id))
        cid = concepts[uri] = len(concepts) + 1
        concept_rows.append((cid, label_id, sense))
        return cid

    names: dict[str, tuple[int, bool]] = {}  # relation URI -> (id, ends in a URL?)
    get = concepts.get
    for relation_uri, start_uri, end_uri, etc in rows:
        rel = names.get(relation_uri)
        if rel is None:
            name = _to_snake_case(relation_uri[3:])
            rid = relations.get(name)
            if rid is None:
                rid = relations[name] = len(relations) + 1
                rel_rows.append((rid, name))
            rel = names[relation_uri] = (rid, name == EXTERNAL_URL)
        start = get(start_uri) or concept(start_uri, False)
        end = get(end_uri) or concept(end_uri, rel[1])
        edge_rows.append((len(edge_rows) + 1, rel[0], start, end, etc))
    cdb._open_db(db_path)  # conceptnet-lite's own tables and indexes
    cdb.db.close()
    con = sqlite3.connect(db_path)
    try:
        con.execute("PRAGMA synchronous = OFF")
        # its indexes, dropped for the inserts and made again after with their own SQL (faster than row by row)
        indexes = con.execute("select name, sql from sqlite_master where type = 'index' and sql is not null "
                              "order by rowid").fetchall()
        with con:
            for name, _ in indexes:
                con.execute(f'drop index "{name}"')
            con.executemany("insert into relation (id, name) values (?, ?)", rel_rows)
            con.executemany("insert into language (id, name) values (?, ?)", lang_rows)
            con.executemany("insert into label (id, text, language_id) values (?, ?, ?)", label_rows)
            con.executemany("insert into concept (id, label_id, sense_label) values (?, ?, ?)", concept_rows)
            con.executemany("insert into edge (id, relation_id, start_id, end_id, etc) values (?, ?, ?, ?, ?)",
                            edge_rows)
            for _, sql in indexes:
                con.execute(sql)
    finally:
        con.close()
    return len(edge_rows)
