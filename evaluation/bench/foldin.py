"""`img2song bench foldin`: how close a fold-in comes to a retrain, and how fast it is.

Two runs over one corpus, with one query split: FULL, built and trained on everything; HELD, built and trained
without a seeded share of the songs and of FULL's training images, which are then folded into HELD's live
catalogue (engine.live: edges by build-graph's rules, LINE rows by fold-in, every index updated). Both answer the
same query photos under the photo protocol; figures: hit-rate@10 and precision@10 at n = 0 and n = 10 (the query's
keywords plus each one's 10 related words as ground truth, from the corpus's related-words dump), for HELD before
and after the fold-in and for FULL; and the share of recommendation slots the folded-in songs take in HELD against
what the same songs take in FULL. The pair is trained under several training seeds (LINE, keyword probe, each
scorer's own seed; the split and the hold-out draw stay fixed): a retrain is itself a draw, so the figures are
the mean and spread over seeds, FOLDED - FULL with a 95% t-interval over seeds, and FULL - FULL between seeds
(how far one retrain lands from another). Timing (first seed): one item at a time, fold-in and every index update
(process CPU and wall time, p50 / p99), and a photo upload with tags through the CNN (as the service encodes it, one
torch / ONNX Runtime thread) up to its durable journal commit.
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
STALE = "folded-probe-as-trained"  # every item folded in, the keyword probe not refitted (before the refit existed)
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


def _scorer_params(name: str, seed: int) -> dict[str, Any] | None:
    """The scorer's own seed set to the training seed (None for a scorer without one)."""
    from engine.scorers.base import get_scorer

    return {"seed": seed} if "seed" in get_scorer(name).get_params() else None


def _trained(run: Any, scorers: tuple[str, ...]) -> bool:
    return run.line_tables.is_file() and all((run.scorer_dir(n) / "params.json").is_file() for n in scorers)


def _train(run: Any, seed: int, scorers: tuple[str, ...], line_config: dict[str, Any], backbone: str | None) -> None:
    """LINE, CNN features, keyword probe and scorers of one run, every seeded step under `seed`."""
    from evaluation.stages import pipeline
    from evaluation.stages.fitted import load_or_fit

    quiet = lambda _: None  # noqa: E731
    pipeline.train_embeddings(run, echo=quiet, seed=seed, progress=False, **line_config)
    pipeline.compute_run_features(run, backbone, progress=False)
    pipeline.train_keyword_probe(run, seed=seed)
    for name in scorers:
        load_or_fit(run, name, _scorer_params(name, seed))


def bench_foldin(corpus: str | Path, out: str | Path, share: float = 0.1, seed: int = 0, timing_items: int = 200,
                 json_out: str | Path | None = None, echo: Echo = print, scorers: tuple[str, ...] = SCORERS,
                 line_config: dict[str, Any] | None = None, backbone: str | None = None,
                 photo_runtime: str | None = None, reuse: bool = False, seeds: int = 3) -> dict[str, Any]:
    """Build, train and compare the two runs under `seeds` training seeds (seed, seed + 1, ...; see the module
    doc); returns the figures (and prints them). `reuse`: keep the runs a previous call built in `out` (same
    corpus, share and seed) and only train what is missing, time and compare."""
    from evaluation.stages import pipeline
    from evaluation.stages.rundir import RunDir
    from graph.build import build_network
    from graph.corpus import load_corpus

    if not 0.0 < share < 0.5:
        raise Img2SongError(f"bench foldin: --share must be in (0, 0.5), got {share}")
    if seeds < 1:
        raise Img2SongError(f"bench foldin: --seeds must be at least 1, got {seeds}")
    corpus, out = Path(corpus), Path(out)
    line_config = line_config or {}
    t_start = time.perf_counter()
    echo(f"load average {os.getloadavg()[0]:.2f} at start")
    train_seeds = [seed + k for k in range(seeds)]
    runs = {t: (RunDir(out / f"full-s{t}"), RunDir(out / f"held-s{t}")) for t in train_seeds}
    c = load_corpus(corpus)
    todo = [t for t in train_seeds if not (reuse and all(_trained(r, scorers) for r in runs[t]))]
    if reuse and len(todo) < len(train_seeds):
        echo(f"reusing the runs built in {out} for seed(s) {[t for t in train_seeds if t not in todo]} (--reuse)")
    # 1. FULL: everything (one network, trained under each seed)
    full_built = held_built = None
    first_full = runs[todo[0] if todo else train_seeds[0]][0]
    if todo:
        full_built = build_network(c, holdout=0.2, seed=seed, progress=False)
        pipeline.save_build(first_full, full_built)
    split, kw = first_full.load_split(), first_full.load_keywords()
    rng = np.random.default_rng(seed)
    song_ids = sorted(kw.songs)  # songs with keyword edges: the ones a photo can reach
    held_songs = set(rng.choice(song_ids, int(round(share * len(song_ids))), replace=False).tolist())
    held_images = set(rng.choice(sorted(split.train), int(round(share * len(split.train))), replace=False).tolist())
    echo(f"FULL: {len(c.songs)} songs, {len(split.train)} training and {len(split.query)} query "
         f"images; held out and folded in: {len(held_songs)} songs, {len(held_images)} training images; "
         f"training seeds {train_seeds}")
    for t in todo:
        full_run, held_run = runs[t]
        if held_built is None:  # 2. HELD: the corpus without them, the same query images held out
            hc = load_corpus(_held_corpus(corpus, out / "held-corpus", held_songs, held_images))
            held_built = build_network(hc, holdout=0.0, seed=seed, progress=False)
            query = set(split.query)
            held_built.network = _drop_vertices(held_built.network, {vertex_id(Kind.IMAGE, i) for i in query})
            held_built.train_image_ids = [i for i in held_built.train_image_ids if i not in query]
            held_built.query_image_ids = list(split.query)
        pipeline.save_build(full_run, full_built)
        pipeline.save_build(held_run, held_built)
        for run in (full_run, held_run):
            _train(run, t, scorers, line_config, backbone)
        echo(f"seed {t}: built, trained and fitted both runs ({time.perf_counter() - t_start:.1f} s so far)")
    # 3. per seed: fold the held-out songs and images into HELD (timed under the first seed), then compare
    per_seed: dict[str, Any] = {}
    timing: dict[str, Any] = {}
    for t in train_seeds:
        full_run, held_run = runs[t]
        folded = _fold(c, corpus, full_run, held_run, t, held_songs, held_images, scorers,
                       timing_items if t == train_seeds[0] else 0, photo_runtime, out)
        if t == train_seeds[0]:
            timing = folded.pop("timing", {})  # none with --timing-items 0
        per_seed[str(t)] = _compare(c, corpus, full_run, held_songs, scorers, t, folded)
        echo(f"seed {t}: " + "; ".join(f"{n} hit@10 n=0 FULL {q['full n=0']['hit@10']:.4f} FOLDED "
                                       f"{q['folded n=0']['hit@10']:.4f}" for n, q in per_seed[str(t)].items()))
    result = {"corpus": str(corpus), "share": share, "seed": seed, "training_seeds": train_seeds,
              "held_songs": len(held_songs), "held_images": len(held_images),
              "queries": per_seed[str(train_seeds[0])][scorers[0]]["queries"], "timing": timing,
              "quality": _aggregate(per_seed, scorers), "per_seed": per_seed,
              "seconds": round(time.perf_counter() - t_start, 1)}
    _print(result, echo)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
        echo(f"wrote {json_out}")
    return result


def _fold(c: Any, corpus: Path, full_run: Any, held_run: Any, seed: int, held_songs: set[str],
          held_images: set[str], scorers: tuple[str, ...], timing_items: int, photo_runtime: str | None,
          out: Path) -> dict[str, Any]:
    """HELD's live catalogue before and after folding in the held-out items one at a time (the first
    `timing_items` of each kind timed), and a timed photo upload through the CNN up to its journal commit."""
    import torch

    from engine.live.catalogue import LiveCatalogue
    from engine.live.updates import Change
    from evaluation.stages.catalogue import make_folder
    from evaluation.stages.catalogue_probe import run_probe
    from evaluation.stages.fitted import load_or_fit
    from evaluation.stages.run_inputs import load_run_corpus, load_training_set, photo_tagger

    corpus_h, data_h = load_run_corpus(held_run), load_training_set(held_run)
    fitted_h = {n: load_or_fit(held_run, n, _scorer_params(n, seed), data=data_h).scorer for n in scorers}
    folder = make_folder(held_run, data_h, corpus_h, fitted_h)
    data_f = load_training_set(full_run)
    tagger = photo_tagger(held_run, data_h)
    by_id = {s.id: s for s in c.songs}
    folder.edger.warm()  # dictionaries, tagger, document frequencies: loaded once per catalogue (a server: at start)
    song_cpu, song_wall, img_cpu, img_wall = [], [], [], []
    probe_cost: dict[str, dict[str, float]] = {}
    cat = LiveCatalogue.start(data_h, fitted_h, (i.id for i in corpus_h.images), run_probe(held_run, data_h))
    before = cat
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `img2song serve` runs (ServeConfig.torch_threads); CPU: every thread's
    try:
        for j, sid in enumerate(sorted(held_songs)):
            t0, c0 = time.perf_counter(), time.process_time()
            cat = cat.apply(Change((folder.song(by_id[sid]),)))
            if j < timing_items:
                song_wall.append(time.perf_counter() - t0)
                song_cpu.append(time.process_time() - c0)
        for j, iid in enumerate(sorted(held_images)):
            img = c.image(iid)
            feats = data_f.features[iid][None, :]
            logits = None if data_f.logits is None else data_f.logits[iid][None, :]
            t0, c0 = time.perf_counter(), time.process_time()
            tags = tagger(feats, logits)
            e = folder.image(img, feats[0], None if tags is None else tags[0], None if logits is None else logits[0])
            cat = cat.apply(Change(images=(e,)))
            if j < timing_items:
                img_wall.append(time.perf_counter() - t0)
                img_cpu.append(time.process_time() - c0)
            if j == 0 and timing_items and cat.probe is not None:  # a refit after one image (not installed)
                probe_cost["after one image"] = _timed(cat.refit_probe)[1]
        stale = cat  # every item folded in, the keyword probe as trained
        if cat.probe is not None:  # the refit a server runs in the background (the CLI: once per batch)
            probe, probe_cost["after the batch"] = _timed(cat.refit_probe)
            cat, probe_cost["tag again (with_probe)"] = _timed(lambda: stale.with_probe(probe))
    finally:
        torch.set_num_threads(threads)
    res: dict[str, Any] = {"before": before, "after": cat, "stale": stale, "corpus": corpus_h,
                           "alpha": {n: getattr(s, "alpha_", None) for n, s in fitted_h.items()}}
    if timing_items:
        up = _time_uploads(c, corpus, data_h, tagger, folder, cat, sorted(held_images)[: min(timing_items, 50)],
                           photo_runtime, out)
        res["timing"] = {"song": {"cpu": _percentiles(song_cpu), "wall": _percentiles(song_wall)},
                         "image_features_given": {"cpu": _percentiles(img_cpu), "wall": _percentiles(img_wall)},
                         **up, "load_average": round(os.getloadavg()[0], 2), "scorers_updated": list(scorers),
                         "probe_refit": probe_cost}
    return res


def _timed(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """fn()'s value and its process CPU and wall milliseconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, {"cpu_ms": round(1e3 * (time.process_time() - c0), 1), "wall_ms": round(1e3 * (time.perf_counter() - t0), 1)}


def _time_uploads(c: Any, corpus: Path, data_h: Any, tagger: Any, folder: Any, cat: Any, ids: list[str],
                  photo_runtime: str | None, out: Path) -> dict[str, Any]:
    """A photo upload with tags as the service runs it (one torch and ONNX Runtime thread): decode, CNN, tags,
    fold-in, every index, then the photo kept and the change committed to a scratch journal (fsync'ed).
    CPU is the process's (every thread); the journal's wall time is also given alone."""
    import torch

    from engine.features.photo import PhotoEncoder, decode_photo
    from engine.features.runtime import Forward, runtime_of_run
    from engine.live.updates import Change
    from evaluation.stages.catalogue_journal import CatalogueStore, image_record
    from evaluation.stages.rundir import RunDir

    enc = PhotoEncoder(data_h.features_meta, tagger)
    enc.backbone = Forward(enc.backbone, photo_runtime or runtime_of_run(data_h.features_meta), threads=1).as_backbone()
    scratch = RunDir(out / "upload-journal")
    shutil.rmtree(scratch.path, ignore_errors=True)
    store = CatalogueStore(scratch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `img2song serve` runs its CNN workers (ServeConfig.torch_threads)
    up_cpu, up_wall, up_thread, journal_wall = [], [], [], []
    try:
        enc.encode([decode_photo((corpus / c.image(ids[0]).file).read_bytes())])  # warm
        for iid in ids:
            img = c.image(iid)
            raw = (corpus / img.file).read_bytes()
            t0, c0, h0 = time.perf_counter(), time.process_time(), time.thread_time()
            f, lg, tg = enc.encode([decode_photo(raw)])
            e = folder.image(img.__class__(f"upload-{iid}", img.file, img.tags, img.caption, img.language,
                                           img.tag_language), f[0], None if tg is None else tg[0],
                             None if lg is None else lg[0])
            cat.apply(Change(images=(e,)))
            t1 = time.perf_counter()
            store.store_photo(raw, Path(img.file).suffix)
            with store.transaction("add", 1) as put:
                put("image", image_record(e, scratch.path))
            t2 = time.perf_counter()
            up_wall.append(t2 - t0)
            up_cpu.append(time.process_time() - c0)
            up_thread.append(time.thread_time() - h0)
            journal_wall.append(t2 - t1)
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(scratch.path, ignore_errors=True)
    return {"photo_upload_with_cnn": {"cpu": _percentiles(up_cpu), "wall": _percentiles(up_wall),
                                      "thread_cpu": _percentiles(up_thread)},
            "upload_journal_commit": {"wall": _percentiles(journal_wall)}}


def _compare(c: Any, corpus: Path, full_run: Any, held_songs: set[str], scorers: tuple[str, ...], seed: int,
             folded: dict[str, Any]) -> dict[str, Any]:
    """The same query photos through FULL, HELD before and HELD after the fold-in: hit@10 / p@10 at n = 0, 10,
    and the slots the held-out songs take."""
    from evaluation.measure.groundtruth import ground_truth_source, related_for_run
    from evaluation.stages.fitted import load_or_fit
    from evaluation.stages.queries import load_eval_queries
    from evaluation.stages.run_inputs import known_image_query, load_run_corpus, load_training_set

    queries = {i: kws for i, kws in load_eval_queries(full_run).keywords().items() if kws}
    source = ground_truth_source(None, corpus / "related_words.tsv.gz", None, False)
    related, fresh = related_for_run(full_run.load_related_words(), {w for kws in queries.values() for w in kws},
                                     source, 10, False)
    if fresh is not None:
        full_run.save_related_words(fresh)
    lyrics = {s.id: s.lyrics for s in c.songs}
    data_f, corpus_f = load_training_set(full_run), load_run_corpus(full_run)
    full = {n: load_or_fit(full_run, n, _scorer_params(n, seed), data=data_f).scorer for n in scorers}
    before, cat, stale, corpus_h = folded["before"], folded["after"], folded["stale"], folded["corpus"]
    answers: dict[str, dict[str, dict[str, list[str]]]] = {}
    for label, data, scorer_of, corp in (("full", data_f, full.get, corpus_f),
                                         ("held", before.data, before.scorers.get, corpus_h),
                                         (STALE, stale.data, stale.scorers.get, corpus_h),
                                         ("folded", cat.data, cat.scorers.get, corpus_h)):
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
                 for label in ("full", STALE, "folded")}
        row["held-out songs' slots"] = {**slots, "share": round(slots["folded"] / max(slots["full"], 1), 4),
                                        "share " + STALE: round(slots[STALE] / max(slots["full"], 1), 4)}
        alpha = {"full": getattr(full[name], "alpha_", None), "held": folded["alpha"].get(name)}
        if alpha["full"] is not None:
            row["alpha"] = alpha  # a fitted fusion weight (ne+): chosen on each run's own validation images
        row["queries"] = len(queries)
        quality[name] = row
    return quality


def _interval(xs: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation and the 95% t-interval of the mean (None bounds with one value)."""
    from scipy import stats

    a = np.asarray(xs, np.float64)
    sd = float(a.std(ddof=1)) if len(a) > 1 else 0.0
    half = float(stats.t.ppf(0.975, len(a) - 1) * sd / np.sqrt(len(a))) if len(a) > 1 else float("nan")
    return {"mean": round(float(a.mean()), 4), "sd": round(sd, 4),
            "ci95": [round(float(a.mean()) - half, 4), round(float(a.mean()) + half, 4)] if len(a) > 1 else None,
            "n": len(a)}


def _aggregate(per_seed: dict[str, Any], scorers: tuple[str, ...]) -> dict[str, Any]:
    """Per scorer over seeds: each figure's mean and spread, FOLDED - FULL (paired by seed) with its interval, and
    FULL - FULL between seeds (the largest gap between two retrains)."""
    out: dict[str, Any] = {}
    for name in scorers:
        rows = [q[name] for q in per_seed.values()]
        agg: dict[str, Any] = {}
        for key in rows[0]:
            if " n=" in key:
                agg[key] = {m: _interval([r[key][m] for r in rows]) for m in ("hit@10", "p@10")}
        for n in (0, 10):
            for m in ("hit@10", "p@10"):
                full = [r[f"full n={n}"][m] for r in rows]
                agg[f"FOLDED - FULL n={n} {m}"] = _interval([r[f"folded n={n}"][m] - f for r, f in zip(rows, full)])
                agg[f"{STALE} - FULL n={n} {m}"] = _interval([r[f"{STALE} n={n}"][m] - f for r, f in zip(rows, full)])
                agg[f"FULL - FULL n={n} {m}"] = round(max(full) - min(full), 4)
        slot_rows = [r["held-out songs' slots"] for r in rows]
        agg["held-out songs' slots"] = {**{k: int(np.mean([r[k] for r in slot_rows])) for k in ("full", STALE, "folded")},
                                        "share": _interval([r["share"] for r in slot_rows]),
                                        "share " + STALE: _interval([r["share " + STALE] for r in slot_rows])}
        if "alpha" in rows[0]:
            agg["alpha"] = {k: [r["alpha"][k] for r in rows] for k in ("full", "held")}
        out[name] = agg
    return out


def _print(r: dict[str, Any], echo: Echo) -> None:
    t = r["timing"]
    if not t:
        echo("fold-in timing: not measured (--timing-items 0)")
    else:
        _print_timing(t, echo)
    _print_quality(r, echo)


def _print_timing(t: dict[str, Any], echo: Echo) -> None:
    echo(f"fold-in, one item at a time, every index of {', '.join(t['scorers_updated'])} updated "
         f"(load average {t['load_average']}; CPU: the process's, every thread; one torch thread, as served):")
    for k, label in (("song", "song (edges + fold-in + updates)"), ("image_features_given", "image, features given"),
                     ("photo_upload_with_cnn", "photo upload with tags (decode + CNN + tags + fold-in + updates "
                                               "+ journal)")):
        echo(f"  {label:74s} CPU p50 {t[k]['cpu']['p50_ms']:8.2f} ms p99 {t[k]['cpu']['p99_ms']:8.2f} | wall "
             f"p50 {t[k]['wall']['p50_ms']:8.2f} ms p99 {t[k]['wall']['p99_ms']:8.2f} (n={t[k]['cpu']['n']})")
    j = t["upload_journal_commit"]["wall"]
    echo(f"  {'of which the photo kept and the journal committed (fsync)':74s} wall p50 {j['p50_ms']:8.2f} ms p99 "
         f"{j['p99_ms']:8.2f}")
    for k, v in t.get("probe_refit", {}).items():  # off the per-item path: a server runs it in the background
        echo(f"  keyword probe refit ({k}; not on the per-item path){'':<{max(0, 40 - len(k))}} CPU "
             f"{v['cpu_ms']:8.1f} ms | wall {v['wall_ms']:8.1f} ms")


def _print_quality(r: dict[str, Any], echo: Echo) -> None:
    seeds = r["training_seeds"]
    echo(f"quality on {r['queries']} query photos (photo protocol), mean over training seeds {seeds} (sd): FULL = "
         f"retrained on everything, HELD = without the {r['held_songs']} songs and {r['held_images']} images, "
         f"FOLDED = HELD with them folded in")
    for name, row in r["quality"].items():
        cells = "  ".join(f"{k}: hit {v['hit@10']['mean']:.4f} ({v['hit@10']['sd']:.4f}) p {v['p@10']['mean']:.4f}"
                          for k, v in row.items() if k.endswith(("n=0", "n=10")) and " - " not in k)
        echo(f"  {name:5s} {cells}")
        for n in (0, 10):
            for what in ("FOLDED", STALE):
                d = row[f"{what} - FULL n={n} hit@10"]
                ci = "" if d["ci95"] is None else f", 95% interval [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]"
                echo(f"  {name:5s} n={n}: hit@10 {what} - FULL = {d['mean']:+.4f} (sd {d['sd']:.4f} over {d['n']} "
                     f"seed(s){ci}); two retrains differ by up to {row[f'FULL - FULL n={n} hit@10']:.4f}")
        s = row["held-out songs' slots"]
        echo(f"  {name:5s} slots of the held-out songs: FULL {s['full']}, FOLDED {s['folded']} (share "
             f"{s['share']['mean']:.3f}, sd {s['share']['sd']:.3f}), {STALE} {s[STALE]} (share "
             f"{s['share ' + STALE]['mean']:.3f})")
        if "alpha" in row:
            echo(f"  {name:5s} fitted fusion weight alpha by seed: FULL {row['alpha']['full']}, HELD "
                 f"{row['alpha']['held']}")
