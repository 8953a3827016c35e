"""`img2song bench foldin`: how close a fold-in comes to a retrain, and how fast it is.

Two runs over one corpus, with one query split: FULL, built and trained on everything; HELD, built and trained
without a seeded share of the songs and of FULL's training images, which are then folded into HELD's live
catalogue (engine.live: edges by build-graph's rules, LINE rows by fold-in, every index updated). Both answer the
same query photos under the photo protocol; figures: hit-rate@10 and precision@10 at n = 0 and n = 10 (the query's
keywords plus each one's 10 related words as ground truth, from the corpus's related-words dump), for HELD before
and after the fold-in and for FULL; and the share of recommendation slots the folded-in songs take in HELD against
what the same songs take in FULL. Timing: one item at a time, fold-in and every index update (CPU and wall time,
p50 / p99), and a photo upload with tags through the CNN (as the service encodes it).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.timing import percentiles_ms
from graph.common.errors import Img2SongError
from graph.network import Kind, Network, vertex_id

Echo = Callable[[str], None]
SCORERS = ("ne", "ne+", "km")
CORPUS_EXTRAS = ("keywords.txt", "lexicon.tsv", "manifest.json", "related_words.tsv.gz")


def _drop_vertices(net: Network, drop: set[str]) -> Network:
    keep = np.array([v not in drop for v in net.ids])
    remap = np.cumsum(keep) - 1
    ek = keep[net.edges[:, 0]] & keep[net.edges[:, 1]]
    return Network([v for v, k in zip(net.ids, keep) if k], net.kinds[keep],
                   [x for x, k in zip(net.labels, keep) if k], remap[net.edges[ek]], net.weights[ek], net.directed)


def _held_corpus(src: Path, dst: Path, songs: set[str], images: set[str]) -> Path:
    """The corpus without the held-out songs and images (photos hard-linked where the file system allows)."""
    from graph.common.readers import iter_jsonl

    dst.mkdir(parents=True, exist_ok=True)
    for name, drop in (("songs.jsonl", songs), ("images.jsonl", images)):
        rows = [obj for _, obj in iter_jsonl(src / name) if obj["id"] not in drop]
        (dst / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    for name in CORPUS_EXTRAS:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
    if not (dst / "images").exists():  # hard links (a symlink would lead outside the corpus), else copies
        shutil.copytree(src / "images", dst / "images", copy_function=_link_or_copy)
    return dst


def _link_or_copy(a: str, b: str) -> None:
    try:
        os.link(a, b)
    except OSError:
        shutil.copy2(a, b)


_percentiles = percentiles_ms  # {"p50_ms", "p99_ms", "n"}, rounded to 3 digits


def _scores(recs: dict[str, list[str]], queries: dict[str, list[str]], related: dict[str, list[str]],
            lyrics: dict[str, str], n: int) -> dict[str, float]:
    from graph.occurrences import contains_any

    hit, prec = [], []
    for q, kws in queries.items():
        words = set(kws) | {w for kw in kws for w in related.get(kw, [])[:n]}
        h = [contains_any(lyrics.get(s, ""), words) for s in recs[q]]
        hit.append(float(any(h)))
        prec.append(sum(h) / 10)
    return {"hit@10": round(float(np.mean(hit)), 4), "p@10": round(float(np.mean(prec)), 4)}


def bench_foldin(corpus: str | Path, out: str | Path, share: float = 0.1, seed: int = 0, timing_items: int = 200,
                 json_out: str | Path | None = None, echo: Echo = print, scorers: tuple[str, ...] = SCORERS,
                 line_config: dict[str, Any] | None = None, backbone: str | None = None,
                 photo_runtime: str | None = None, reuse: bool = False) -> dict[str, Any]:
    """Build, train and compare the two runs (see the module doc); returns the figures (and prints them).
    `reuse`: keep the two runs a previous call built in `out` (same corpus, share and seed) and only time and
    compare."""
    from engine.features.photo import PhotoEncoder, decode_photo
    from engine.features.runtime import Forward, runtime_of_run
    from engine.live.catalogue import LiveCatalogue
    from engine.live.updates import Change
    from evaluation import pipeline
    from evaluation.catalogue import make_folder
    from evaluation.fitted import load_or_fit
    from evaluation.groundtruth import ground_truth_source, related_for_run
    from evaluation.queries import load_eval_queries
    from evaluation.run_inputs import known_image_query, load_run_corpus, load_training_set, photo_tagger
    from evaluation.rundir import RunDir
    from graph.build import build_network
    from graph.corpus import load_corpus

    if not 0.0 < share < 0.5:
        raise Img2SongError(f"bench foldin: --share must be in (0, 0.5), got {share}")
    corpus, out = Path(corpus), Path(out)
    quiet = lambda _: None  # noqa: E731
    line_config = line_config or {}
    t_start = time.perf_counter()
    echo(f"load average {os.getloadavg()[0]:.2f} at start")
    full_run, held_run = RunDir(out / "full"), RunDir(out / "held")
    c = load_corpus(corpus)
    built = all(r.line_tables.is_file() and all((r.scorer_dir(n) / "params.json").is_file()
                                                               for n in scorers) for r in (full_run, held_run))
    if reuse and built:
        echo(f"reusing the two runs built in {out} (--reuse)")
    # 1. FULL: everything
    if not (reuse and built):
        pipeline.save_build(full_run, build_network(c, holdout=0.2, seed=seed, progress=False))
    split, kw = full_run.load_split(), full_run.load_keywords()
    rng = np.random.default_rng(seed)
    song_ids = sorted(kw.songs)  # songs with keyword edges: the ones a photo can reach
    held_songs = set(rng.choice(song_ids, int(round(share * len(song_ids))), replace=False).tolist())
    held_images = set(rng.choice(sorted(split.train), int(round(share * len(split.train))), replace=False).tolist())
    echo(f"FULL: {len(c.songs)} songs, {len(split.train)} training and {len(split.query)} query "
         f"images; held out and folded in: {len(held_songs)} songs, {len(held_images)} training images")
    if not (reuse and built):
        # 2. HELD: the corpus without them, the same query images held out
        hc = load_corpus(_held_corpus(corpus, out / "held-corpus", held_songs, held_images))
        held = build_network(hc, holdout=0.0, seed=seed, progress=False)
        query = set(split.query)
        held.network = _drop_vertices(held.network, {vertex_id(Kind.IMAGE, i) for i in query})
        held.train_image_ids = [i for i in held.train_image_ids if i not in query]
        held.query_image_ids = list(split.query)
        pipeline.save_build(held_run, held)
        for run in (full_run, held_run):
            pipeline.train_embeddings(run, echo=quiet, seed=seed, progress=False, **line_config)
            pipeline.features(run, backbone=backbone, echo=quiet)
            for name in scorers:
                load_or_fit(run, name)
        echo(f"built, trained and fitted both runs in {time.perf_counter() - t_start:.1f} s")
    # 3. fold the held-out songs and images into HELD, one at a time (timed)
    corpus_h, data_h = load_run_corpus(held_run), load_training_set(held_run)
    fitted_h = {n: load_or_fit(held_run, n, data=data_h).scorer for n in scorers}
    cat = LiveCatalogue.start(data_h, fitted_h, (i.id for i in corpus_h.images))
    before = cat
    folder = make_folder(held_run, data_h, corpus_h, fitted_h)
    data_f = load_training_set(full_run)
    tagger = photo_tagger(held_run, data_h)
    by_id = {s.id: s for s in c.songs}
    folder.edger.word_df()  # computed once per catalogue: not a per-item cost
    song_cpu, song_wall, img_cpu, img_wall = [], [], [], []
    for j, sid in enumerate(sorted(held_songs)):
        t0, c0 = time.perf_counter(), time.thread_time()
        cat = cat.apply(Change((folder.song(by_id[sid]),)))
        if j < timing_items:
            song_wall.append(time.perf_counter() - t0)
            song_cpu.append(time.thread_time() - c0)
    for j, iid in enumerate(sorted(held_images)):
        img = c.image(iid)
        feats = data_f.features[iid][None, :]
        logits = None if data_f.logits is None else data_f.logits[iid][None, :]
        t0, c0 = time.perf_counter(), time.thread_time()
        tags = tagger(feats, logits)
        e = folder.image(img, feats[0], None if tags is None else tags[0], None if logits is None else logits[0])
        cat = cat.apply(Change(images=(e,)))
        if j < timing_items:
            img_wall.append(time.perf_counter() - t0)
            img_cpu.append(time.thread_time() - c0)
    # a photo upload with tags: decode, CNN (the features stage's runtime, one thread), tags, fold-in, updates
    enc = PhotoEncoder(data_h.features_meta, tagger)
    enc.backbone = Forward(enc.backbone, photo_runtime or runtime_of_run(data_h.features_meta), threads=1).as_backbone()
    enc.encode([decode_photo((corpus / c.image(sorted(held_images)[0]).file).read_bytes())])  # warm
    up_cpu, up_wall, cat_up = [], [], cat
    for iid in sorted(held_images)[: min(timing_items, 50)]:
        img = c.image(iid)
        raw = (corpus / img.file).read_bytes()
        t0, c0 = time.perf_counter(), time.thread_time()
        f, lg, tg = enc.encode([decode_photo(raw)])
        e = folder.image(img.__class__(f"upload-{iid}", img.file, img.tags, img.caption, img.language,
                                       img.tag_language), f[0], None if tg is None else tg[0],
                         None if lg is None else lg[0])
        cat_up.apply(Change(images=(e,)))
        up_wall.append(time.perf_counter() - t0)
        up_cpu.append(time.thread_time() - c0)
    timing = {"song": {"cpu": _percentiles(song_cpu), "wall": _percentiles(song_wall)},
              "image_features_given": {"cpu": _percentiles(img_cpu), "wall": _percentiles(img_wall)},
              "photo_upload_with_cnn": {"cpu": _percentiles(up_cpu), "wall": _percentiles(up_wall)},
              "load_average": round(os.getloadavg()[0], 2), "scorers_updated": list(scorers)}
    # 4. the same query photos through FULL, HELD before and HELD after the fold-in
    queries = {i: kws for i, kws in load_eval_queries(full_run).keywords().items() if kws}
    source = ground_truth_source(None, corpus / "related_words.tsv.gz", None, False)
    related, fresh = related_for_run(full_run.load_related_words(), {w for kws in queries.values() for w in kws},
                                     source, 10, False)
    if fresh is not None:
        full_run.save_related_words(fresh)
    lyrics = {s.id: s.lyrics for s in c.songs}
    corpus_f = load_run_corpus(full_run)
    answers: dict[str, dict[str, dict[str, list[str]]]] = {}
    for label, data, scorer_of, corp in (
            ("full", data_f, lambda n: load_or_fit(full_run, n, data=data_f).scorer, corpus_f),
            ("held", before.data, lambda n: before.scorers[n], corpus_h),
            ("folded", cat.data, lambda n: cat.scorers[n], corpus_h)):
        answers[label] = {}
        qs = [known_image_query(data, i, corp) for i in queries]
        for name in scorers:
            recs = scorer_of(name).recommend_batch(qs, 10)
            answers[label][name] = {i: [r.song_id for r in row] for i, row in zip(queries, recs)}
    quality: dict[str, Any] = {}
    for name in scorers:
        row: dict[str, Any] = {}
        for label in answers:
            for n in (0, 10):
                row[f"{label} n={n}"] = _scores(answers[label][name], queries, related, lyrics, n)
        slots = {label: sum(s in held_songs for recs in answers[label][name].values() for s in recs)
                 for label in ("full", "folded")}
        row["held-out songs' slots"] = {**slots, "share": round(slots["folded"] / max(slots["full"], 1), 4)}
        quality[name] = row
    result = {"corpus": str(corpus), "share": share, "seed": seed, "held_songs": len(held_songs),
              "held_images": len(held_images), "queries": len(queries), "timing": timing, "quality": quality,
              "seconds": round(time.perf_counter() - t_start, 1)}
    _print(result, echo)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
        echo(f"wrote {json_out}")
    return result


def _print(r: dict[str, Any], echo: Echo) -> None:
    t = r["timing"]
    echo(f"fold-in, one item at a time, every index of {', '.join(t['scorers_updated'])} updated "
         f"(load average {t['load_average']}):")
    for k, label in (("song", "song (edges + fold-in + updates)"), ("image_features_given", "image, features given"),
                     ("photo_upload_with_cnn", "photo upload with tags (decode + CNN + tags + fold-in + updates)")):
        echo(f"  {label:66s} CPU p50 {t[k]['cpu']['p50_ms']:8.2f} ms p99 {t[k]['cpu']['p99_ms']:8.2f} | wall "
             f"p50 {t[k]['wall']['p50_ms']:8.2f} ms p99 {t[k]['wall']['p99_ms']:8.2f} (n={t[k]['cpu']['n']})")
    echo(f"quality on {r['queries']} query photos (photo protocol): FULL = retrained on everything, HELD = without "
         f"the {r['held_songs']} songs and {r['held_images']} images, FOLDED = HELD with them folded in")
    for name, row in r["quality"].items():
        cells = "  ".join(f"{k}: hit {v['hit@10']:.4f} p {v['p@10']:.4f}" for k, v in row.items() if "n=" in k)
        echo(f"  {name:5s} {cells}")
        for n in (0, 10):
            d = row[f"folded n={n}"]["hit@10"] - row[f"full n={n}"]["hit@10"]
            echo(f"  {name:5s} n={n}: hit@10 FOLDED - FULL = {d:+.4f}")
        s = row["held-out songs' slots"]
        echo(f"  {name:5s} slots of the held-out songs: FULL {s['full']}, FOLDED {s['folded']} (share {s['share']:.3f})")
