"""The model stages: CNN features and keyword probe, the attention bi-LSTM and its retrieval protocol
(evaluation.stages.pipeline re-exports these)."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.stages.rundir import RunDir, Stage
from graph.common.errors import Img2SongError

Echo = Callable[[str], None]


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
