"""graph.common.atomic: outputs appear whole or not at all, and no temp file is ever left behind."""
from __future__ import annotations

import json

import numpy as np
import pytest

from graph.common.atomic import atomic_path, write_json, write_text


def test_success_replaces_old_file_and_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    assert write_text(target, "old") == target
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new", encoding="utf-8")
        assert target.read_text(encoding="utf-8") == "old"  # nothing visible until the block ends
    assert target.read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_exception_mid_write_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "doc.json"
    write_json(target, {"v": 1})
    with pytest.raises(TypeError):
        write_json(target, {"v": 2, "bad": object()})  # not JSON-serialisable: fails after writing begins
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("partial", encoding="utf-8")
            raise RuntimeError("boom")
    assert json.loads(target.read_text(encoding="utf-8")) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_failed_first_write_leaves_nothing(tmp_path):
    target = tmp_path / "never.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("x", encoding="utf-8")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_suffix_kept_or_overridden(tmp_path):
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.suffix == ".png"
        tmp.write_bytes(b"x")
    target = tmp_path / "table.bin"
    with atomic_path(target, suffix=".npz") as tmp:
        assert tmp.name.endswith(".npz")
        np.savez_compressed(tmp, a=np.arange(3))  # numpy appends .npz unless the name already ends with it
    with np.load(target) as z:
        np.testing.assert_array_equal(z["a"], np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png", "table.bin"]


def test_json_round_trip_keeps_chinese_readable(tmp_path):
    doc = {"关键词": ["月亮", "故乡"], "n": 2, "nested": {"歌": "静夜思"}}
    path = write_json(tmp_path / "k.json", doc, indent=2)
    raw = path.read_text(encoding="utf-8")
    assert "月亮" in raw and "\\u" not in raw
    assert raw.startswith('{\n  "关键词"')
    assert json.loads(raw) == doc
