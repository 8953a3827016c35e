"""Live catalogue on a real run: `img2song add` then recommend, `remove` then recommend, strict input errors, and
a `kill -9` in the middle of an add that leaves the run as before it for the next command."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation.stages import catalogue, pipeline
from evaluation.stages.catalogue_journal import CatalogueStore
from graph.common.errors import Img2SongError
from tests.conftest import own_cache
from tests.live_run import make_live_run, photo, song_row

REPO = Path(__file__).resolve().parents[1]
QUIET = lambda _: None  # noqa: E731
SCORERS = ("ne", "km", "pop", "ne+", "zs", "fused")


@pytest.fixture(scope="module")
def live(tmp_path_factory, dictionary_cache, live_base):
    tmp = tmp_path_factory.mktemp("live")
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the per-test cache fixture
        mp.setenv("IMG2SONG_CACHE", str(own_cache(tmp / "cache", dictionary_cache)))
        run = make_live_run(tmp, SCORERS, base=live_base)
        yield tmp, run


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def songs_for(run: Path, image: str, scorer: str, k: int = 60) -> list[str]:
    return [r.song_id for r in pipeline.recommend(run, [image], scorer, k, echo=QUIET)[0]]


def test_added_song_and_photo_are_answered_removed_ones_never(live, tmp_path):
    tmp, run = live
    new = {"id": "moon-new", "title": "新月", "artist": "me", "lyrics": "明月照船头，月下月光，月。", "language": "zh",
           "popularity": 99.0}
    photo(tmp_path / "m.png", "月", 4242)
    lines: list[str] = []
    cat = catalogue.add(run, write(tmp_path / "s.jsonl", [new]),
                        write(tmp_path / "i.jsonl", [{"id": "moon-photo", "file": "m.png", "tags": ["moon"]}]),
                        echo=lines.append)
    assert any("committed 2 addition(s)" in x for x in lines) and "moon-new" in cat.song_ids
    assert (run / "foldin_map.npz").is_file()  # the fold-in map is kept in the run: later commands read it back
    assert {n: cat.notes[n] for n in SCORERS} == {n: "updated" for n in SCORERS}
    for scorer in ("ne", "km", "ne+"):  # the new song is answered for a photo of its keyword (file and new id)
        assert "moon-new" in songs_for(run, str(tmp_path / "m.png"), scorer, 10), scorer
        assert "moon-new" in songs_for(run, "moon-photo", scorer, 10), scorer
    assert "moon-new" in songs_for(run, "moon-photo", "pop", 60)  # in POP's pool (the 100 most popular)
    for scorer in ("zs", "fused"):  # ranked by its lyric's text embedding (and fused's parts): it is in the list
        assert "moon-new" in songs_for(run, "moon-photo", scorer, 60), scorer
    # the added photo is now a neighbour image of NE: a photo just like it finds it
    recs = pipeline.recommend(run, [str(tmp_path / "m.png")], "ne", 3, echo=QUIET)[0]
    assert recs[0].detail["image"] == "moon-photo"

    catalogue.remove(run, ["moon-new", "s000"], ["moon-photo", "p001"], echo=QUIET)
    for scorer in SCORERS:  # k = every song: a removed song is never among them, for any photo
        for image in (str(tmp_path / "m.png"), "p000", "p003"):
            got = songs_for(run, image, scorer)
            assert "moon-new" not in got and "s000" not in got, (scorer, image)
    with pytest.raises(Img2SongError, match="neither an image file nor an image id"):
        pipeline.recommend(run, ["moon-photo"], "ne", 3, echo=QUIET)
    with pytest.raises(Img2SongError, match="it was removed"):
        pipeline.recommend(run, ["p001"], "ne", 3, echo=QUIET)
    recs = pipeline.recommend(run, [str(tmp_path / "m.png")], "ne", 60, echo=QUIET)[0]
    assert all(r.detail["image"] not in ("moon-photo", "p001") for r in recs)
    with pytest.raises(Img2SongError, match="not in the catalogue"):
        catalogue.remove(run, ["moon-new"], [], echo=QUIET)


BAD = [  # (rows, message fragments): file, line and field named
    ([{"id": "x", "title": "t", "lyrics": "月", "language": "zh", "colour": 1}], ["s.jsonl:1", "'colour'", "unknown"]),
    ([{"id": "x", "title": "t", "lyrics": "月", "language": "zh"}, {"id": "x", "title": "t", "lyrics": "月",
                                                                   "language": "zh"}], ["s.jsonl:2", "'id'", "duplicate"]),
    ([{"id": "x", "title": "t", "lyrics": "", "language": "zh"}], ["s.jsonl:1", "'lyrics'", "empty"]),
    ([{"id": "x", "title": "t", "lyrics": "月" * 200_001, "language": "zh"}], ["s.jsonl:1", "'lyrics'", "over the limit"]),
    ([{"id": "x", "title": "t", "lyrics": "月", "language": "fr"}], ["s.jsonl:1", "'language'"]),
    ([{"id": "x", "title": 3, "lyrics": "月", "language": "zh"}], ["s.jsonl:1", "'title'"]),
    ([{"id": "s001", "title": "t", "lyrics": "月", "language": "zh"}], ["s001", "'id'", "already in the catalogue"]),
    ([{"id": "x", "title": "t", "lyrics": "nothing here at all", "language": "en"}], ["'x'", "'lyrics'", "no edge"]),
]


@pytest.mark.parametrize("rows,parts", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_songs_are_refused_naming_the_field_and_nothing_is_written(live, tmp_path, rows, parts):
    _, run = live
    store = CatalogueStore(run)
    before = store.journal.read_bytes() if store.exists() else b""
    with pytest.raises(Img2SongError) as e:
        catalogue.add(run, write(tmp_path / "s.jsonl", rows), echo=QUIET)
    assert all(p in str(e.value) for p in parts), str(e.value)
    assert (store.journal.read_bytes() if store.exists() else b"") == before


def test_bad_image_rows_are_refused(live, tmp_path):
    _, run = live
    photo(tmp_path / "ok.png", "花", 1)
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    for row, part in (({"id": "a", "file": "missing.png", "tags": ["flower"]}, "'file'"),
                      ({"id": "a", "file": "../ok.png", "tags": ["flower"]}, "'file'"),
                      ({"id": "a", "file": "junk.png", "tags": ["flower"]}, "i.jsonl:1"),
                      ({"id": "a", "file": "ok.png"}, "'tags'"),
                      ({"id": "a", "file": "ok.png", "tags": ["spaceship"]}, "reach none")):
        with pytest.raises(Img2SongError, match=part):
            catalogue.add(run, None, write(tmp_path / "i.jsonl", [row]), echo=QUIET)


def test_kill_9_during_add_leaves_the_run_as_before_for_the_next_command(live, tmp_path):
    tmp, run = live
    import numpy as np

    rng = np.random.default_rng(7)
    rows = [song_row(1000 + i, rng) for i in range(400)]
    for r in rows:
        r["id"] = f"bulk{r['id']}"
    songs = write(tmp_path / "bulk.jsonl", rows)
    store = CatalogueStore(run)
    size0 = store.journal.stat().st_size if store.exists() else 0
    before = songs_for(run, "p002", "ne")
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "tests.serve_main", "add", "--run", str(run), "--songs", str(songs)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:  # killed on the progress it reports: a few items journalled, far from all 400
        seen.append(line)
        if "(5/400)" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen[-5:])
    tail = store.journal.read_bytes()[size0:].decode().splitlines()
    kinds = [json.loads(x)["kind"] for x in tail if x.strip().endswith("}")]
    assert kinds[0] == "begin" and "commit" not in kinds and 5 <= kinds.count("song") < 400, kinds[:3]
    # the next command (any: here recommend) discards the unfinished add and answers as before it
    lines: list[str] = []
    got = [r.song_id for r in pipeline.recommend(run, ["p002"], "ne", 60, echo=lines.append)[0]]
    assert got == before and not any(s.startswith("bulk") for s in got)
    assert any("discarded an unfinished change" in x for x in lines)
    assert store.journal.stat().st_size == size0
    cat = catalogue.add(run, write(tmp_path / "one.jsonl", rows[:1]), echo=QUIET)  # and the run takes changes again
    assert rows[0]["id"] in cat.song_ids and sum(s.startswith("bulk") for s in cat.song_ids) == 1


def test_bench_foldin_prints_quality_and_latency_figures(tmp_path):
    from evaluation.bench.foldin import STALE, bench_foldin
    from tests.live_run import make_live_corpus
    from tests.scorer_contract import write_dump
    from tests.serve_main import BACKBONE

    corpus = make_live_corpus(tmp_path / "corpus", songs=40, images=35)
    write_dump(corpus / "related_words.tsv.gz", [("/r/RelatedTo", "/c/zh/月", "/c/zh/清风", 2.0),
                                                 ("/r/RelatedTo", "/c/zh/花", "/c/zh/芳草", 1.0)])
    lines: list[str] = []
    r = bench_foldin(corpus, tmp_path / "bench", share=0.2, timing_items=20, json_out=tmp_path / "b.json",
                     echo=lines.append, scorers=("ne", "km"), backbone=BACKBONE, seeds=2,
                     line_config={"dim": 16, "samples": 100_000, "threads": 1})
    assert r["held_songs"] == 8 and r["held_images"] >= 4 and json.loads((tmp_path / "b.json").read_text())
    assert r["training_seeds"] == [0, 1] and set(r["per_seed"]) == {"0", "1"}
    t = r["timing"]
    assert t["song"]["cpu"]["n"] == 8 and 0 < t["song"]["cpu"]["p50_ms"] <= t["song"]["cpu"]["p99_ms"]
    assert t["photo_upload_with_cnn"]["cpu"]["n"] == r["held_images"]
    assert 0 < t["upload_journal_commit"]["wall"]["p50_ms"] < t["photo_upload_with_cnn"]["wall"]["p99_ms"]
    assert set(t["probe_refit"]) == {"after one image", "after the batch", "tag again (with_probe)"}  # timed apart
    assert all(v["cpu_ms"] > 0 for v in t["probe_refit"].values())
    for seed, quality in r["per_seed"].items():
        for name in ("ne", "km"):
            q = quality[name]
            assert {f"{lab} n={n}" for lab in ("full", "held", STALE, "folded") for n in (0, 10)} <= set(q)
            assert q["held-out songs' slots"]["folded"] > 0  # folded-in songs are recommended
            assert q["held-out songs' slots"]["full"] > 0
        # KM's postings of the folded-in songs equal a retrain's: the same answers up to its tie order
        assert quality["km"]["folded n=0"]["hit@10"] == quality["km"]["full n=0"]["hit@10"], seed
    for name in ("ne", "km"):  # the aggregate: means over the seeds, the paired difference and its interval
        agg, rows = r["quality"][name], [r["per_seed"][s][name] for s in ("0", "1")]
        assert agg["full n=0"]["hit@10"]["mean"] == pytest.approx(np.mean([x["full n=0"]["hit@10"] for x in rows]),
                                                                  abs=1e-4)
        d = agg["FOLDED - FULL n=10 hit@10"]
        diffs = [x["folded n=10"]["hit@10"] - x["full n=10"]["hit@10"] for x in rows]
        assert d["n"] == 2 and d["mean"] == pytest.approx(np.mean(diffs), abs=1e-4)
        assert d["ci95"][0] <= d["mean"] <= d["ci95"][1]
        assert agg["FULL - FULL n=0 hit@10"] == pytest.approx(np.ptp([x["full n=0"]["hit@10"] for x in rows]), abs=1e-4)
    assert any("FOLDED - FULL" in x for x in lines) and any("photo upload" in x for x in lines)
    assert any(f"{STALE} - FULL" in x for x in lines) and any("keyword probe refit" in x for x in lines)


def test_bench_foldin_prints_without_timing():
    """`--timing-items 0` measures no timing: the report says so instead of failing on the missing figures."""
    from evaluation.bench.foldin import _print

    lines: list[str] = []
    _print({"timing": {}, "training_seeds": [0], "queries": 3, "held_songs": 2, "held_images": 1, "quality": {}},
           lines.append)
    assert lines[0] == "fold-in timing: not measured (--timing-items 0)"
    assert lines[1].startswith("quality on 3 query photos")
