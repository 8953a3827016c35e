"""A small but real trained run for the live-catalogue tests: a synthetic corpus built by build-graph, LINE
trained by the C++ kernel, features from the tiny test backbone (tests/serve_main.py), scorers fitted and saved."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from graph.bridge import DEFAULT_EDGE_MODEL, DEFAULT_EDGE_THRESHOLD, DEFAULT_KIND_BACKOFF
from tests.conftest import TINY_KEYWORDS, TINY_LEXICON, write_jsonl

FILLER = ["清风", "故人", "长亭", "黄昏", "春天", "秋夜", "孤城", "归雁", "芳草", "斜阳", "烟波", "楼台"]
EN = dict(TINY_LEXICON)  # english tag -> keyword
TAGS = {z: e for e, z in TINY_LEXICON}  # keyword -> english tag
COLOURS = {k: (30 * j % 256, 200 - 25 * j, 40 + 30 * j) for j, k in enumerate(TINY_KEYWORDS)}


def song_row(i: int, rng: np.random.Generator, kws: list[str] | None = None) -> dict:
    kws = kws or list(rng.choice(TINY_KEYWORDS, size=2, replace=False))
    words = [*kws, *kws[:1], *rng.choice(FILLER, size=3, replace=False)]
    rng.shuffle(words)
    return {"id": f"s{i:03d}", "title": f"歌 {i}", "artist": "anon", "lyrics": "，".join(words) + "。",
            "language": "zh", "popularity": float(rng.integers(1, 100))}


def photo(path: Path, keyword: str, seed: int) -> None:
    """A photo whose colour statistics say its keyword (the test backbone sees channel means and spreads)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = np.array(COLOURS[keyword], np.float32)
    px = np.clip(base + rng.normal(0, 12, (16, 16, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(px).save(path)


def make_live_corpus(root: Path, songs: int = 48, images: int = 42, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "songs.jsonl", [song_row(i, rng) for i in range(songs)])
    rows = []
    for i in range(images):
        kw = TINY_KEYWORDS[i % len(TINY_KEYWORDS)]
        photo(root / "images" / f"p{i:03d}.png", kw, seed * 1000 + i)
        rows.append({"id": f"p{i:03d}", "file": f"images/p{i:03d}.png", "tags": [TAGS[kw]], "kind": "photo"})
    write_jsonl(root / "images.jsonl", rows)
    (root / "keywords.txt").write_text("\n".join(TINY_KEYWORDS) + "\n", encoding="utf-8")
    (root / "lexicon.tsv").write_text("".join(f"{e}\t{z}\n" for e, z in TINY_LEXICON), encoding="utf-8")
    (root / "manifest.json").write_text(json.dumps({"name": "live-test", "sources": []}), encoding="utf-8")
    return root


def make_live_base(tmp: Path, edge_model: bool = DEFAULT_EDGE_MODEL, kind_backoff: bool = DEFAULT_KIND_BACKOFF,
                   edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD) -> Path:
    """build-graph, train (C++ LINE, 200k samples) and features (test backbone) of make_live_corpus: a run with no
    scorer yet (the same bytes on every call: seeded, one LINE thread); `edge_model`, `kind_backoff`, `edge_threshold`:
    build-graph's settings."""
    import tests.serve_main  # noqa: F401 - registers the test backbone
    from evaluation.stages import pipeline
    from tests.serve_main import BACKBONE

    quiet = lambda _: None  # noqa: E731
    corpus = make_live_corpus(tmp / "corpus")
    run = tmp / "run"
    pipeline.build_graph(corpus, run, holdout=0.15, seed=0, echo=quiet, edge_model=edge_model,
                         kind_backoff=kind_backoff, edge_threshold=edge_threshold)
    pipeline.train_embeddings(run, echo=quiet, dim=16, samples=200_000, threads=1, progress=False)
    pipeline.features(run, backbone=BACKBONE, echo=quiet)
    return run


def make_live_run(tmp: Path, scorers: tuple[str, ...] = ("ne", "km", "pop", "ne+"), base: Path | None = None,
                  edge_model: bool = DEFAULT_EDGE_MODEL, kind_backoff: bool = DEFAULT_KIND_BACKOFF,
                  edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD) -> Path:
    """make_live_base's run (built here, or `base`, a run it made, copied: the tests/conftest.py live_base
    fixture builds it once a session), scorers fitted and saved: a run ready to serve."""
    import shutil

    from evaluation.stages import pipeline

    run = (make_live_base(tmp, edge_model, kind_backoff, edge_threshold) if base is None
           else Path(shutil.copytree(base, tmp / "run", symlinks=True)))
    pipeline.fit_scorers(run, list(scorers), echo=lambda _: None)
    return run


def committed_probe_seen(run: Path, want: int, timeout: float) -> int | None:
    """The image changes the last committed keyword-probe refit learnt from, read-only (never truncating the
    journal a live server appends to), waiting up to `timeout` s for `want`."""
    import time

    from evaluation.stages.catalogue_journal import CatalogueStore, _parse

    end, seen = time.monotonic() + timeout, None
    while time.monotonic() < end:
        recs = [r for r in map(_parse, CatalogueStore(run).journal.read_bytes().split(b"\n")) if r]
        done = {r["txn"] for r in recs if r["kind"] == "commit"}
        probes = [r["data"]["seen"] for r in recs if r["kind"] == "probe" and r["txn"] in done]
        seen = probes[-1] if probes else None
        if seen == want:
            break
        time.sleep(0.2)
    return seen
