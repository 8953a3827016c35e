"""The pipeline, one stage a function: build -> train -> export -> features -> LSTM -> evaluate -> recommend.

The CLI commands and the demo are thin shells over these functions, and a notebook calls them directly. Each
stage loads its inputs as objects from the run's storage (`RunDir`: one save_X / load_X pair per artefact), hands
them to the estimators in engine/ and graph/ (which never see the directory), saves what they return through the
storage and records itself in the run manifest under its `Stage`, so any stage can start from a directory written
by another stage, by the Python API or by the CLI. `echo` receives the lines a stage prints (what it did and where
it wrote).
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evaluation.stages.rundir import RunDir, Stage
from graph.common.errors import Img2SongError

Echo = Callable[[str], None]
# the text encoder weighs image-keyword senses only when asked, in build-graph and in keywords alike: it removes
# some wrong senses but leaves a quarter of the starter's images with no keyword (README, "the bridge")
SENSE_ENCODER = False
EXPORTS = {"word2vec": "embeddings.w2v.txt", "word2vec-binary": "embeddings.w2v.bin", "npz": "embeddings.npz",
           "projector": "projector"}


def corpus_bridge(corpus, sense_encoder: bool = SENSE_ENCODER, echo: Echo = print):
    """The corpus's bilingual bridge: with the text encoder weighing senses (engine.text.relatedness), or the
    dictionary and WordNet alone (`sense_encoder` False, or no encoder installed: it then says so)."""
    if not sense_encoder:
        from graph.bridge import Bridge

        return Bridge.for_corpus(corpus)
    from engine.text.relatedness import encoder_bridge

    return encoder_bridge(corpus, echo)


def build_graph(corpus: str | Path, out: RunDir | str | Path, holdout: float = 0.2, seed: int = 0,
                scheme: str = "count", echo: Echo = print, context_words: int | None = None,
                sense_encoder: bool = SENSE_ENCODER):
    """Load and validate the corpus, build the network, write it into the run, and print what was done."""
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from graph.build import build_network
    from graph.corpus import KEYWORDS_FILE, load_corpus

    if Path(out).exists() and not Path(out).is_dir():
        raise Img2SongError(f"{out}: --out exists and is not a directory")
    out_abs, corpus_abs = Path(out).resolve(), Path(corpus).resolve()
    if out_abs == corpus_abs or corpus_abs in out_abs.parents:  # never write into a user's corpus
        raise Img2SongError(f"--out {out} is inside the corpus {corpus}: a run directory must be outside it")
    c = load_corpus(corpus)
    for line in c.report.lines():
        echo(line)
    if c.keywords is None:
        echo(f"no {KEYWORDS_FILE} in {corpus}: selecting keywords (the rule of `img2song keywords`)")
    else:
        echo(f"keywords: {len(c.keywords)} from {Path(corpus) / KEYWORDS_FILE}")
    from graph.context import ContextParams

    context = ContextParams() if context_words is None else ContextParams(per_song=context_words)
    bridge = corpus_bridge(c, sense_encoder, echo)
    result = build_network(c, holdout=holdout, seed=seed, scheme=scheme, context=context, bridge=bridge)
    result.params["sense_encoder"] = bridge.relatedness is not None  # what the live catalogue's edges must use too
    echo(bridge.relatedness_line())
    if result.selection is not None:
        echo(result.selection.table())
        echo(result.selection.summary())
        for line in result.selection.coverage_lines():
            echo(line)
    paths = save_build(RunDir.of(out), result)
    stats = result.stats()
    keys = ("songs", "images", "keywords", "words", "song_keyword_edges", "image_keyword_edges", "song_word_edges",
            "query_images", "isolated_vertices")
    echo("network statistics: " + json.dumps({k: stats[k] for k in keys}, ensure_ascii=False))
    echo(result.reach_line())
    if stats["skipped"]:
        echo("skipped while building: " + json.dumps(stats["skipped"], ensure_ascii=False))
    for w in result.warnings:
        echo(f"warning: {w}")
    echo(f"built in {result.seconds:.2f} s; wrote " + ", ".join(str(p) for p in paths.values()))
    return result


def save_build(run: RunDir, result: Any) -> dict[str, Path]:
    """Write a BuildResult into the run (network, stats, split, keywords; the selected keywords when build-graph
    chose them) and record the build, naming the corpus for every later stage."""
    run.create()
    paths = {"network": run.save_network(result.network), run.network_stats.name: run.save_network_stats(result.stats()),
             run.split.name: run.save_split(result.split), run.keywords.name: run.save_keywords(result.keyword_file)}
    if result.selection is not None:  # the selected vocabulary, ready to copy into the corpus and edit
        paths[run.selected_keywords.name] = run.save_selected_keywords(result.selection)
    top: dict[str, Any] = {}
    if result.corpus_root is not None:
        from graph.corpus_files import corpus_fingerprint

        top["corpus"] = str(result.corpus_root.resolve())
        top["corpus_fingerprint"] = result.corpus_fingerprint or corpus_fingerprint(result.corpus_root)
    paths["run"] = run.record(Stage.BUILD_GRAPH, result.params, {k: str(v) for k, v in paths.items()}, **top)
    return paths


def train_embeddings(run: RunDir | str | Path | None = None, graph: str | Path | None = None,
                     out: str | Path | None = None, edgelist: str | Path | None = None, resume: bool = False,
                     echo: Echo = print, **config: Any) -> Path:
    """LINE embeddings of a run's network (or of a given network / C++ edge list) into the run (or `out`)."""
    from graph.network import Network, read_edgelist_in_background

    if run is not None and (graph is not None or edgelist is not None):
        raise Img2SongError("train: give a run (--run) or a network (--graph / --edgelist), not both")
    if run is not None:
        r = RunDir.of(run).require_dir()
        graph, out = r.network, out or r.path
    elif out is None:
        if graph is None:
            raise Img2SongError("train: give --run DIR, or --graph / --edgelist with --out DIR")
        if edgelist is not None:
            raise Img2SongError("train --edgelist: give --out DIR for the embeddings")
        g = Path(graph)
        out = g if g.is_dir() else g.parent
    if graph is not None and not isinstance(graph, Network) and Path(graph).is_dir():  # a run holding network.npz
        graph = RunDir(graph).network
    # the edge list is read on a thread (C++, no GIL) while torch is imported below: start-up and reading overlap
    pending = read_edgelist_in_background(edgelist) if graph is None and edgelist and Path(edgelist).is_file() else None
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from engine.line.config import LineConfig
    from engine.line.foldin import tables_arrays
    from engine.line.train import fit_line, load_graph
    if resume and not config.get("checkpoint"):  # before the config is checked: checkpoint_every needs it
        config["checkpoint"] = str(RunDir.of(out).line_checkpoint)
    cfg = LineConfig.from_dict(config)
    target = RunDir.of(out).create()
    tic = time.perf_counter()
    network = pending.result() if pending is not None else load_graph(graph, edgelist)
    load_s = pending.seconds if pending is not None else time.perf_counter() - tic
    source = str(edgelist if edgelist is not None else (graph if not isinstance(graph, Network) else "<memory>"))
    model, record = fit_line(network, cfg, source, load_s, echo, resume,
                             "edge list" if edgelist is not None else "network",
                             waited_s=time.perf_counter() - tic if pending is not None else None)
    emb, line = target.save_embeddings(model.embeddings_, record, tables_arrays(model, network))
    target.record(Stage.TRAIN, cfg.to_dict(), {"embeddings": emb, "line": line})
    echo(f"wrote {emb} and {line}")
    return target.path


def projector_info(embeddings: str | Path, corpus: str | Path | None = None, echo: Echo = print):
    """Labels and thumbnails for a projector export: from `corpus`, else from the corpus of the run the
    embeddings sit in (run.json beside them); None when there is neither."""
    # deferred: a command loads only its own stage (the sprite needs PIL)
    from engine.projector_sprite import VertexInfo
    from graph.corpus import load_corpus

    if corpus is None:
        run = RunDir(Path(embeddings).parent)
        if not run.manifest.is_file() or "corpus" not in run.read_manifest():
            return None
        corpus = run.corpus_path()
    echo(f"projector: labels and image thumbnails from corpus {corpus}")
    return VertexInfo.from_corpus(load_corpus(corpus, check_files=False))


def export_embeddings(embeddings: str | Path, out: str | Path, format: str, kind: list[str] | None = None,
                      source_format: str | None = None, corpus: str | Path | None = None,
                      echo: Echo = print) -> Path:
    """Load a table (format from its suffix unless given), keep the chosen kinds, write `out` in `format`
    (projector: with a sprite of image thumbnails when the corpus is given or found through the run)."""
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from engine.embeddings import FORMATS, EmbeddingTable

    if format not in FORMATS:
        raise Img2SongError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if Path(embeddings).is_file():  # a run's embeddings.npz of an interrupted train is refused
        RunDir(Path(embeddings).parent).check_embeddings()
    table = EmbeddingTable.load(embeddings, source_format)
    if kind:
        table = table.select(kind)
        if not len(table):
            raise Img2SongError(f"{embeddings}: no vertices of kind {', '.join(kind)}")
    info = projector_info(embeddings, corpus, echo) if format == "projector" else None
    path = table.save(out, format, vertex_info=info)
    echo(f"wrote {len(table)} vectors (dim {table.dim}) as {format} to {path}"
         + (" (sprite.png: one tile per vertex, images as pictures)" if info is not None else ""))
    for line in info.skips.skip_lines() if info is not None else []:
        echo(f"projector sprite: {line}")
    return path


def export_run(run: RunDir | str | Path, echo: Echo = print) -> dict[str, Path]:
    """The run's embeddings in every format (and the songs alone as word2vec text) into <run>/export/."""
    r = RunDir.of(run)
    paths = {fmt: export_embeddings(r.embeddings, r.export_dir / name, fmt, echo=echo) for fmt, name in EXPORTS.items()}
    paths["songs"] = export_embeddings(r.embeddings, r.export_dir / "songs.w2v.txt", "word2vec", kind=["song"],
                                       echo=echo)
    r.record(Stage.EXPORT, {"formats": list(EXPORTS)}, paths)
    return paths


def compute_run_features(run: RunDir | str | Path, backbone: str | None = None,
                         weights: str | Path | None = None, cache_dir: str | Path | None = None,
                         batch_size: int = 32, device: str = "cpu", progress: bool = True, use_cache: bool = True,
                         extract=None, runtime: str = "auto", precision: str = "fp32",
                         threads: int | None = None, num_workers: int | None = None) -> dict[str, Any]:
    """Extract features + tags of every corpus image into <run>/features/ and record the stage; returns paths,
    report and meta.

    `extract` replaces extract_features (same signature), e.g. engine.features.distributed.extract_sharded; when
    it returns None (a rank other than 0 of a sharded extraction) nothing is written here. `backbone` defaults to
    engine.features.backbones.DEFAULT_BACKBONE; `runtime`, `precision`, `threads` and `num_workers` are
    extract_features' (engine.features.runtime: auto = the fastest runtime that keeps eager's features on this
    device).
    """
    # deferred: the CNN stack pulls in torch
    from engine.features.backbones import DEFAULT_BACKBONE
    from engine.features.extract import extract_features
    from engine.features.stage import features_meta, keyword_tags

    run = RunDir.of(run).require_dir()
    corpus = run.load_corpus()
    items = [(img.id, corpus.image_path(img)) for img in corpus.images]
    backbone = backbone or DEFAULT_BACKBONE
    ext = (extract or extract_features)(items, backbone, weights=weights, cache_dir=cache_dir, use_cache=use_cache,
                                        batch_size=batch_size, device=device, progress=progress, runtime=runtime,
                                        precision=precision, threads=threads, num_workers=num_workers)
    if ext is None:
        return {"paths": {}, "report": None, "meta": None}
    tags, covered = keyword_tags(ext.logits, run.vocabulary(), corpus.lexicon) if ext.logits is not None else (None, [])
    meta = features_meta(ext, covered)
    paths = run.save_features(ext.features, ext.logits, tags, meta)
    run.record(Stage.FEATURES, {"backbone": backbone, "weights": weights, "batch_size": batch_size, "device": device,
                                "runtime": ext.features.meta.get("runtime"), "precision": precision},
               paths)
    return {"paths": paths, "report": ext.report, "meta": meta}


def train_keyword_probe(run: RunDir | str | Path, seed: int = 0) -> dict[str, Any]:
    """Fit the keyword probe on the run's training images and save every corpus image's keyword distribution
    (engine.features.stage.fit_keyword_probe: out-of-fold for training images)."""
    from engine.features.stage import fit_keyword_probe  # deferred: torch

    run = RunDir.of(run).require_dir()
    feats = run.load_features()
    if feats is None:
        raise Img2SongError(f"{run.features}: features not found (written by `img2song features`)")
    kw = run.load_keywords()
    probe, probs, train = fit_keyword_probe(feats, run.load_split().train, kw.images, kw.vocabulary, seed)
    paths = run.save_keyword_probe(probe, probs)
    run.record(Stage.KEYWORD_PROBE, {"seed": seed, "training_images": len(train)},
               {**paths, "validation": probe.validation_})
    return {"paths": paths, "validation": probe.validation_, "training_images": len(train)}


def features(run: RunDir | str | Path, backbone: str | None = None, weights: str | Path | None = None,
             batch_size: int = 32, echo: Echo = print, device: str = "cpu", runtime: str = "auto",
             precision: str = "fp32") -> dict[str, Any]:
    """CNN features + keyword tags of every corpus image into <run>/features/."""
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from engine.features.backbones import DEFAULT_BACKBONE

    t0 = time.perf_counter()
    res = compute_run_features(run, backbone or DEFAULT_BACKBONE, weights, batch_size=batch_size, device=device,
                               runtime=runtime, precision=precision)
    n = res["report"].computed
    echo(f"CNN on {res['meta']['runtime']} ({device}): {n} images computed in {time.perf_counter() - t0:.1f} s")
    for line in res["report"].lines():
        echo(line)
    echo(f"ImageNet tags reach {len(res['meta']['tag_keywords_reachable'])} keywords of the vocabulary")
    echo("wrote " + ", ".join(str(p) for p in res["paths"].values()))
    probe = train_keyword_probe(run)
    v = probe["validation"]
    echo(f"keyword probe on {probe['training_images']} training images: validation top-1 {v['top1']:.3f}, "
         f"top-3 {v['top3']:.3f} ({v['images']} images; l2 {v['l2']:g}, temperature {v['temperature']:.2f}); "
         f"wrote " + ", ".join(str(p) for p in probe["paths"].values()))
    res["probe"] = probe
    return res


def train_lstm(run: RunDir | str | Path, loss: str = "mrl", attention: bool = True,
               word_vectors: str | Path | None = None, epochs: int = 40, device: str = "auto",
               progress: bool = True, echo: Echo = print) -> Path:
    """Train the run's attention bi-LSTM scorer on its training images; save the checkpoint the scorer reuses."""
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from engine.lstm.device import pick_device
    from engine.lstm.prepare import run_word_vectors, song_tokens
    from engine.scorers.lstm import LSTMScorer
    from evaluation.stages.run_inputs import load_training_set

    if loss not in ("mse", "cpl", "mrl"):
        raise Img2SongError(f"--loss must be mse, cpl or mrl, got {loss!r}")
    pick_device(device)  # a missing GPU is an error now, not after the word vectors
    r = RunDir.of(run)
    data = load_training_set(r)
    if word_vectors is None and data.word_vectors is None:  # train the lyric vectors once per run and keep them
        data.word_vectors = run_word_vectors(data, song_tokens(data))
        r.save_word_vectors(data.word_vectors)
    scorer = LSTMScorer(attention=attention, loss=loss, word_vectors=str(word_vectors) if word_vectors else None,
                        epochs=epochs, device=device, reuse=False, progress=progress).fit(data)
    path = r.save_lstm(scorer.model_)
    m = scorer.model_
    last = m.history_[-1] if m.history_ else {}
    echo(f"{m.variant} bi-LSTM ({loss}) on {len(scorer.pairs_.pairs)} pairs, {len(scorer.pairs_.songs)} songs: "
         f"{len(m.history_)} epochs, best {getattr(m, 'best_epoch_', '?')}, last {last}, {m.fit_seconds_:.1f} s "
         f"on {m.device_}; word vectors: {m.word_vectors_.source}")
    echo(f"wrote {path}")
    r.record(Stage.train_lstm(attention), {"loss": loss, "attention": attention, "word_vectors": word_vectors,
                                         "epochs": epochs, "device": device}, {"checkpoint": path})
    return path


def lstm_retrieval(run: RunDir | str | Path, word_vectors: str | Path | None = None, epochs: int = 40,
                   device: str = "auto", echo: Echo = print, loss: str = "mrl") -> dict:
    """R@K / med r of both LSTM variants on the two splits; prints the table beside the paper's."""
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from engine.lstm.device import pick_device
    from engine.lstm.prepare import image_tag_matrix, run_word_vectors, song_tokens
    from evaluation.measure.retrieval import render_markdown, run_retrieval
    from evaluation.stages.queries import load_eval_queries
    from evaluation.stages.run_inputs import load_training_set

    pick_device(device)
    r = RunDir.of(run)
    ts = load_training_set(r)  # all images of keywords.json, train and query alike: this protocol makes its splits
    image_kw = {**ts.image_keywords, **load_eval_queries(r).weights}
    tokens = song_tokens(ts)
    wv = run_word_vectors(ts, tokens, word_vectors)
    if word_vectors is None and ts.word_vectors is None:  # kept in the run, so that later stages reuse them
        r.save_word_vectors(wv)
    tags = image_tag_matrix(ts, [i for i in image_kw if ts.tags is not None and i in ts.tags])
    res = run_retrieval(tokens, image_kw, ts.song_keywords, tags, ts.tag_vocab, wv, progress=True, epochs=epochs,
                        device=device, loss=loss)
    res.details["written"] = str(r.save_lstm_retrieval({"retrieval": res.metrics, "details": res.details}))
    echo(render_markdown(res.metrics, res.details))
    echo(f"wrote {res.details['written']}")
    r.record(Stage.LSTM_RETRIEVAL, {"word_vectors": word_vectors, "epochs": epochs, "device": device,
                                             "loss": loss},
                          {"retrieval": res.details["written"]})
    return res.metrics


def evaluate(run: RunDir | str | Path, scorers: Sequence[str] | None = None,
             conceptnet_db: str | Path | None = None, echo: Echo = print, config: str | Path | None = None,
             scorer_modules: Sequence[str] = (), as_json: bool = False, **kw: Any):
    """hit-rate@10 / precision@10 report of the scorers on the run's held-out images; `as_json`: the report's
    JSON document (report.json plus the paths written) instead of the text summary, status lines to stderr.

    `config`: an experiment TOML (evaluation.measure.experiment); `scorers`, `conceptnet_db` and keyword arguments named
    like its fields (k, ns, seed, n_boot, protocols) override it; `scorer_modules` register the user's own scorers
    (imported first). Other keyword arguments go to evaluate_run."""
    import dataclasses

    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from evaluation.measure.experiment import ExperimentConfig, GroundTruthConfig, load_experiment
    from evaluation.stages.protocol import evaluate_experiment, scorer_specs

    r = RunDir.of(run)
    cfg = load_experiment(config) if config is not None else ExperimentConfig()
    fields = {f.name for f in dataclasses.fields(ExperimentConfig)} - {"scorers", "ground_truth", "source"}
    changes: dict[str, Any] = {key: kw.pop(key) for key in list(kw) if key in fields}
    if scorer_modules:
        changes["scorer_modules"] = [*cfg.scorer_modules, *scorer_modules]
    if scorers:
        changes["scorers"] = scorer_specs(list(scorers))
    if conceptnet_db is not None:
        changes["ground_truth"] = GroundTruthConfig(str(conceptnet_db))
    cfg = dataclasses.replace(cfg, **changes) if changes else cfg
    rep = evaluate_experiment(r, cfg, **kw)
    written = (r.report_json, r.report_md, r.report_png, r.report_html, r.per_query, r.recommendations)
    if as_json:
        echo(json.dumps({**rep.to_json(), "written": [str(p) for p in written]}, ensure_ascii=False))
        return rep
    k = rep.meta["k"]
    gt = rep.meta.get("ground_truth", {})
    echo(f"ground truth: {gt.get('description') or gt.get('source', '')}")
    if gt.get("build"):
        from evaluation.measure.thesauri import ThesauriBuild

        echo(ThesauriBuild(**gt["build"]).summary())
    if cfg.source:
        echo(f"experiment {cfg.source}: {len(cfg.scorers)} scorers, k={k}, n in {list(cfg.ns)}")
    echo(f"{rep.meta['queries_evaluated']} query images; hit_rate@{k} by n:")
    width = max(6, *(len(name) for name in rep.scorers))
    for name, m in rep.scorers.items():
        echo(f"  {name:{width}s} " + "  ".join(f"n={n}: " + ("—" if v is None else f"{v:.3f}")  # None: no answer
                                               for n, v in m[f"hit_rate@{k}"].items()))
    echo("wrote " + ", ".join(str(p) for p in written))
    return rep


def fit_scorers(run: RunDir | str | Path, names: Sequence[str] = ("ne", "km", "pop"),
                params: dict[str, dict[str, Any]] | None = None, refit: bool = False, echo: Echo = print,
                scorer_modules: Sequence[str] = ()) -> dict:
    """Fit each scorer on the run once and save it into <run>/scorers/<name>/ (a current saved one is kept);
    `scorer_modules` register the user's own scorers (imported first)."""
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from evaluation.measure.experiment import import_scorer_modules
    from evaluation.stages.fitted import load_or_fit, stale_reason
    from evaluation.stages.run_inputs import load_training_set

    import_scorer_modules(scorer_modules)

    r = RunDir.of(run).require_dir()
    stale = {n: refit or stale_reason(r, n, (params or {}).get(n)) is not None for n in names}
    data = load_training_set(r) if any(stale.values()) else None
    out = {}
    for n in names:
        f = load_or_fit(r, n, (params or {}).get(n), data=data, refit=refit)
        echo(f"{n}: {'kept' if f.status == 'loaded' else f.status} in {f.seconds:.2f} s -> {f.path}")
        out[n] = f
    return out


def recommend(run: RunDir | str | Path, images: Sequence[str | Path], scorer: str = "ne", k: int = 10,
              echo: Echo = print, scorer_modules: Sequence[str] = (), as_json: bool = False) -> list[list[Any]]:
    """Top-k songs for each photo (file or corpus image id), printed with title, artist, first line, reason;
    `as_json`: one JSON document instead of the text (status lines go to stderr).

    The scorer is loaded from <run>/scorers/<name>/ (fitted and saved there first when missing or stale);
    `scorer_modules` register the user's own scorers (imported first)."""
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from evaluation.measure.experiment import import_scorer_modules
    from evaluation.stages.fitted import load_or_fit
    from evaluation.stages.run_inputs import load_run_corpus, load_training_set, photo_queries

    import_scorer_modules(scorer_modules)
    if k < 1:
        raise Img2SongError(f"--k must be at least 1, got {k}")
    corpus = load_run_corpus(run)
    data = load_training_set(run, corpus)
    fitted = load_or_fit(run, scorer, data=data)
    note = (lambda line: print(line, file=sys.stderr)) if as_json else echo
    if fitted.status != "loaded":
        note(f"scorer {scorer}: {fitted.status}, saved to {fitted.path}")
    model = fitted.scorer
    from evaluation.stages.catalogue import (  # songs and photos added or removed
        live_catalogue_if_any,
        live_queries,
    )

    live = live_catalogue_if_any(run, {scorer: model}, data, corpus, note)
    if live is not None:
        model, data = live.scorers[scorer], live.data
    queries = live_queries(run, images, live, corpus) if live else photo_queries(run, list(images), data, corpus=corpus)
    out, results = [], []
    for img, q in zip(images, queries):
        recs = model.recommend(q, k)
        songs = []
        for rank, rec in enumerate(recs, start=1):
            s = data.corpus.song(rec.song_id)
            first = next((ln.strip() for ln in s.lyrics.splitlines() if ln.strip()), "")
            songs.append({"rank": rank, "id": s.id, "title": s.title, "artist": s.artist, "first_line": first,
                          "score": float(rec.score), "explanation": rec.explanation})
        results.append({"image": str(img), "keywords": list(q.keywords or ()), "songs": songs})
        if not as_json:
            echo(f"{img}  [{scorer}]" + (f"  keywords: {', '.join(q.keywords)}" if q.keywords else ""))
            for x in songs:
                echo(f"{x['rank']:3d}. {x['title']} - {x['artist'] or 'unknown'}: {x['first_line'][:60]}")
                echo(f"     why: {x['explanation']}")
        out.append(recs)
    if as_json:
        echo(json.dumps({"run": str(RunDir.of(run).path), "scorer": scorer, "k": k, "results": results},
                        ensure_ascii=False))
    return out
