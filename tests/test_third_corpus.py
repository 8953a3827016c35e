"""The third corpus's builder: licence filter, OpenMoji and Tabler tag-file parsing, the ci the starter leaves out."""
from __future__ import annotations

import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from graph.common.errors import Img2SongError
from graph.secondcorpus import third

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24">'
       b'<circle cx="12" cy="12" r="9" fill="#3a3"/></svg>')


def test_spdx_licence_filter():
    assert third.spdx_allowed("MIT") and third.spdx_allowed("CC-BY-SA-4.0")
    assert third.spdx_allowed("(MIT OR GPL-3.0-only)")  # an OR needs one allowed id
    assert not third.spdx_allowed("GPL-3.0-only")
    assert not third.spdx_allowed("MIT AND CC-BY-NC-4.0")  # an AND needs every id
    assert not third.spdx_allowed("") and not third.spdx_allowed("UNLICENSED")
    assert not third.spdx_allowed("mit")  # SPDX ids are exact


def _tgz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_package_with_a_non_free_licence_is_refused(tmp_path):
    tgz = _tgz(tmp_path / "icons-1.0.tgz", {"package/package.json":
                                             json.dumps({"name": "icons", "version": "1.0",
                                                         "license": "CC-BY-NC-4.0"}).encode()})
    with tarfile.open(tgz) as tf, pytest.raises(Img2SongError, match=r"icons-1.0.tgz: package.json field 'license'"):
        third._package(tf, tgz)


OPENMOJI = [
    {"hexcode": "1F340", "group": "animals-nature", "annotation": "four leaf  clover", "tags": "clover, four, leaf",
     "openmoji_tags": "luck, Four-Leaf, clover", "openmoji_author": "A. Painter", "skintone": ""},
    {"hexcode": "1F476-1F3FD", "group": "people-body", "annotation": "baby: medium skin tone", "tags": "",
     "openmoji_tags": "", "skintone": 3},
    {"hexcode": "1F1EB-1F1F7", "group": "flags", "annotation": "flag: France", "tags": "flag"},
    {"hexcode": "2B06", "group": "symbols", "annotation": "up arrow", "tags": "arrow, north"},
    {"hexcode": "E000", "group": "extras-openmoji", "annotation": "", "tags": "", "openmoji_tags": ""},
]


def test_openmoji_tags_merged_and_skips_counted():
    skipped: Counter[str] = Counter()
    got = third.openmoji_entries(OPENMOJI, "CC-BY-SA-4.0", "om.json", skipped)
    assert [e.key for e in got] == ["openmoji-1f340"]
    e = got[0]
    assert e.tags == ("clover", "four", "leaf", "luck", "four leaf")  # CLDR keywords, then OpenMoji's, no repeats
    assert e.caption == "four leaf clover" and e.member == "package/color/svg/1F340.svg"
    assert e.licence == "CC-BY-SA-4.0 (OpenMoji, by A. Painter)"
    assert skipped == {"openmoji skin-tone variant": 1, "openmoji group flags": 1, "openmoji group symbols": 1,
                       "openmoji without tags or annotation": 1}
    with pytest.raises(Img2SongError, match=r"om.json: entry 0: field 'annotation' missing"):
        third.openmoji_entries([{"hexcode": "1F340", "group": "x"}], "MIT", "om.json", Counter())


TABLER = {
    "acorn": {"name": "acorn", "category": "Nature", "tags": ["nut", "oak-tree", "Acorn"],
              "styles": {"outline": {"version": "2.1"}}},
    "acorn-off": {"name": "acorn-off", "category": "Nature", "tags": ["nut", "off"], "styles": {"outline": {}}},
    "cake-2": {"name": "cake-2", "category": "Food", "tags": ["cake"], "styles": {"outline": {}}},
    "align-left": {"name": "align-left", "category": "Text", "tags": ["align"], "styles": {"outline": {}}},
    "sun-filled-only": {"name": "sun-filled-only", "category": "Weather", "tags": ["sun"], "styles": {"filled": {}}},
    "building-store": {"name": "building-store", "category": "Buildings", "tags": ["shop"]},
}


def test_tabler_categories_and_variants():
    skipped: Counter[str] = Counter()
    got = third.tabler_entries(TABLER, "MIT", "icons.json", skipped)
    assert [(e.key, e.tags, e.caption) for e in got] == [
        ("tabler-acorn", ("nut", "oak tree", "acorn"), "acorn"),
        ("tabler-building-store", ("shop",), "building store")]
    assert got[0].member == "package/icons/outline/acorn.svg" and got[0].licence == "MIT"
    assert skipped == {"tabler status or numbered variant": 2, "tabler category that depicts nothing": 1,
                       "tabler icon without an outline style": 1}
    with pytest.raises(Img2SongError, match=r"icons.json: icon 'x': field 'tags' is not a list"):
        third.tabler_entries({"x": {"category": "Nature", "tags": "nut"}}, "MIT", "icons.json", Counter())


def _raw(tmp_path: Path, held: tuple[int, ...], svg: bytes = SVG, tabler_licence: str = "MIT") -> tuple[Path, Path]:
    """raw/ with 6 tiny ci and both icon tarballs, and a starter holding the ci numbered `held`."""
    raw, starter = tmp_path / "raw", tmp_path / "starter"
    dist = raw / "chinese-poetry/dist"
    (dist / "songci").mkdir(parents=True, exist_ok=True)
    cis = [{"author": f"作者{i}", "rhythmic": f"调{i}", "paragraphs": [f"春风{i}吹柳岸。", "明月照江楼。"]}
           for i in range(6)]
    (dist / "songci/ci.song.0.json").write_text(json.dumps(cis, ensure_ascii=False), encoding="utf-8")
    (dist / "songci/宋词三百首.json").write_text("[]", encoding="utf-8")
    starter.mkdir(exist_ok=True)
    (starter / "songs.jsonl").write_text("".join(json.dumps({"id": f"ci-{i:06d}"}) + "\n" for i in held))
    _tgz(raw / "openmoji-17.0.0.tgz", {
        "package/package.json": json.dumps({"name": "openmoji", "version": "17.0.0",
                                            "license": "CC-BY-SA-4.0"}).encode(),
        "package/data/openmoji.json": json.dumps(OPENMOJI).encode(), "package/color/svg/1F340.svg": svg})
    _tgz(raw / "tabler-icons-3.51.0.tgz", {
        "package/package.json": json.dumps({"name": "@tabler/icons", "version": "3.51.0",
                                            "license": tabler_licence}).encode(),
        "package/icons.json": json.dumps(TABLER).encode(), "package/icons/outline/acorn.svg": SVG})
    return raw, starter


def test_build_takes_the_other_ci_and_renders_the_tagged_svgs(tmp_path):
    import cairosvg  # noqa: F401  (installed by the dev extra; the build renders SVG with it)
    raw, starter = _raw(tmp_path, held=(1, 4))
    out = tmp_path / "third"
    made = third.build(raw, out, starter, max_songs=3, seed=1)
    songs = [json.loads(x) for x in (out / "songs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert made.songs == len(songs) == 3
    ids = [s["id"] for s in songs]
    assert ids == sorted(ids) and not {"ci-000001", "ci-000004"} & set(ids)  # none of the starter's ci
    images = [json.loads(x) for x in (out / "images.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [i["id"] for i in images] == ["openmoji-1f340", "tabler-acorn"]
    assert [i["source"] for i in images] == ["npm openmoji 17.0.0", "npm @tabler/icons 3.51.0"]
    assert all((out / i["file"]).is_file() for i in images)
    assert made.skipped["npm @tabler/icons 3.51.0: tag entry without its SVG"] == 1  # building-store has no SVG
    assert not (out / ".unpacked").exists()
    with pytest.raises(Img2SongError, match="not empty"):
        third.build(raw, out, starter)


def test_unrenderable_svg_is_counted_and_a_refused_package_leaves_no_corpus(tmp_path):
    import cairosvg  # noqa: F401  (installed by the dev extra; the build renders SVG with it)
    raw, starter = _raw(tmp_path, held=(1,), svg=b"<svg xmlns='http://www.w3.org/2000/svg'><broken")
    made = third.build(raw, tmp_path / "ok", starter)
    assert made.images == 1 and made.songs == 5
    assert [k for k in made.skipped if k.startswith("npm openmoji 17.0.0: unrenderable SVG")]
    _raw(tmp_path, held=(1,), tabler_licence="CC-BY-NC-4.0")
    out = tmp_path / "third"
    with pytest.raises(Img2SongError, match="tabler-icons-3.51.0.tgz: package.json field 'license'"):
        third.build(raw, out, starter)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok", "raw", "starter"]  # no corpus, no partial folder


def test_command_line_says_what_it_wrote_or_the_error(tmp_path, capsys):
    import cairosvg  # noqa: F401  (installed by the dev extra; the build renders SVG with it)
    raw, starter = _raw(tmp_path, held=(0, 2))
    argv = ["--raw", str(raw), "--out", str(tmp_path / "c"), "--starter", str(starter), "--max-songs", "2"]
    assert third.main(argv) == 0
    assert f"wrote 2 songs and 2 images to {tmp_path / 'c'}" in capsys.readouterr().out
    assert third.main(argv) == 2
    assert capsys.readouterr().out == f"error: {tmp_path / 'c'}: not empty; give a new directory\n"
