"""Corpus loader: every error names file, line and field; oddities are counted, not silently dropped."""
from __future__ import annotations

import pytest

from graph.common.errors import CorpusError
from graph.corpus import load_corpus
from tests.conftest import TINY_IMAGES, TINY_SONGS, make_corpus


def test_loads_tiny_corpus(tiny_corpus_dir):
    c = load_corpus(tiny_corpus_dir)
    assert len(c.songs) == len(TINY_SONGS) and len(c.images) == len(TINY_IMAGES)
    assert c.keywords == ["月", "酒", "山", "江", "船", "雨", "花"]
    assert c.lexicon["moon"] == ["月"]
    assert c.song("s3").artist == "李清照" and c.image("i2").tags == ("moon", "mountain")
    assert c.report.skipped == {}


def _expect(root, match):
    with pytest.raises(CorpusError, match=match):
        load_corpus(root)


def test_malformed_json_names_file_and_line(tmp_path):
    root = make_corpus(tmp_path / "c")
    with open(root / "songs.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"id": "bad", "title": \n')
    _expect(root, r"songs\.jsonl:7: malformed JSON")


def test_missing_required_field(tmp_path):
    songs = [dict(s) for s in TINY_SONGS]
    del songs[2]["lyrics"]
    root = make_corpus(tmp_path / "c", songs=songs)
    _expect(root, r"songs\.jsonl:3: field 'lyrics' required field is missing")


def test_wrong_type_field(tmp_path):
    songs = [dict(s) for s in TINY_SONGS]
    songs[0]["popularity"] = "high"
    root = make_corpus(tmp_path / "c", songs=songs)
    _expect(root, r"songs\.jsonl:1: field 'popularity' has the wrong type str")


def test_duplicate_id(tmp_path):
    images = [dict(i) for i in TINY_IMAGES] + [dict(TINY_IMAGES[0])]
    root = make_corpus(tmp_path / "c", images=images)
    _expect(root, r"images\.jsonl:9: field 'id' duplicate id 'i1' \(first at line 1\)")


def test_non_utf8_bytes(tmp_path):
    root = make_corpus(tmp_path / "c")
    with open(root / "songs.jsonl", "ab") as fh:
        fh.write(b'{"id": "x", "title": "\xff\xfe", "lyrics": "a", "language": "zh"}\n')
    _expect(root, r"songs\.jsonl:7: bytes are not UTF-8")


def test_missing_image_file(tmp_path):
    root = make_corpus(tmp_path / "c")
    (root / "images" / "i4.png").unlink()
    _expect(root, r"images\.jsonl:4: field 'file' image file not found")


def test_unreadable_image_file(tmp_path):
    root = make_corpus(tmp_path / "c")
    (root / "images" / "i5.png").write_bytes(b"not an image at all")
    _expect(root, r"images\.jsonl:5: field 'file' image file is unreadable")


def test_bad_language(tmp_path):
    songs = [dict(s) for s in TINY_SONGS]
    songs[1]["language"] = "fr"
    root = make_corpus(tmp_path / "c", songs=songs)
    _expect(root, r"songs\.jsonl:2: field 'language' must be one of")


def test_image_kind_is_optional_and_validated(tmp_path):
    images = [dict(i) for i in TINY_IMAGES]
    images[0]["kind"] = "photo"
    images[1]["kind"] = "drawing"
    c = load_corpus(make_corpus(tmp_path / "ok", images=images))
    kinds = {i.id: i.kind for i in c.images}
    assert kinds[images[0]["id"]] == "photo" and kinds[images[1]["id"]] == "drawing"
    assert kinds[images[2]["id"]] == ""  # absent: not stated, never guessed
    images[2]["kind"] = "painting"
    _expect(make_corpus(tmp_path / "bad", images=images), r"images\.jsonl:3: field 'kind' must be \"photo\" or")


def test_missing_corpus_file(tmp_path):
    root = make_corpus(tmp_path / "c")
    (root / "images.jsonl").unlink()
    _expect(root, r"images\.jsonl: required corpus file is missing")


def test_recoverable_oddities_are_counted(tmp_path):
    songs = [dict(s) for s in TINY_SONGS] + [{"id": "empty", "title": "t", "lyrics": "  ", "language": "zh"}]
    images = [dict(i) for i in TINY_IMAGES] + [{"id": "bare", "file": "images/bare.png"}]
    root = make_corpus(tmp_path / "c", songs=songs, images=images)
    c = load_corpus(root)
    assert c.report.skipped == {"song with empty lyrics": 1, "image with no tags and no caption": 1}
    assert "empty" not in {s.id for s in c.songs} and len(c.images) == len(TINY_IMAGES)
    assert any("skipped 1 (song with empty lyrics)" in line for line in c.report.lines())


def test_bad_lexicon_line(tmp_path):
    root = make_corpus(tmp_path / "c")
    (root / "lexicon.tsv").write_text("moon\t月\nbroken line without tab\n", encoding="utf-8")
    _expect(root, r"lexicon\.tsv:2: expected two tab-separated columns")


def test_bad_manifest(tmp_path):
    root = make_corpus(tmp_path / "c")
    (root / "manifest.json").write_text("{", encoding="utf-8")
    _expect(root, r"manifest\.json:1: malformed JSON")
