"""The paper's image-to-song protocol: held-out query images, 10 songs per scorer, related-word ground truth."""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from engine.run import load_training_set
from engine.scorers.base import Query, Recommendation, TrainingSet, get_scorer
from evaluation.groundtruth import N_VALUES, RelatedWords, related_for_run
from evaluation.queries import load_eval_queries
from evaluation.report import Report, build_report
from graph.common.errors import Img2SongError
from graph.keywords import contains_any
from graph.rundir import RunDir


def query_for(ts: TrainingSet, image_id: str, keywords: Sequence[str]) -> Query:
    """A held-out image as a Query: its known keywords plus the run's CNN features and tags when present."""
    try:
        path = ts.corpus.image_path(image_id)
    except KeyError:
        path = None
    feats = ts.features[image_id] if ts.features is not None and image_id in ts.features else None
    tags = ts.tags[image_id] if ts.tags is not None and image_id in ts.tags else None
    return Query(image_id=image_id, path=path, keywords=tuple(keywords), features=feats, tag_probs=tags)


def recommend_all(ts: TrainingSet, scorers: Sequence[str], queries: dict[str, list[str]], k: int = 10,
                  scorer_params: dict[str, dict[str, Any]] | None = None, progress: bool = True,
                  batch_size: int = 256) -> tuple[dict[str, dict[str, list[Recommendation]]], dict[str, dict[str, int]]]:
    """Fit every scorer once, then ask it for k songs per query; per-query failures are counted, not fatal."""
    recs: dict[str, dict[str, list[Recommendation]]] = {}
    skipped: dict[str, dict[str, int]] = {}
    for name in scorers:
        scorer = get_scorer(name, **(scorer_params or {}).get(name, {})).fit(ts)
        recs[name], skipped[name] = {}, {}
        items = list(queries.items())
        bar = tqdm(total=len(items), desc=f"recommend ({name})", disable=not progress)
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            qs = [query_for(ts, image_id, kws) for image_id, kws in chunk]
            try:
                lists = scorer.recommend_batch(qs, k)
            except Img2SongError:  # find the failing queries one by one
                lists = []
                for q in qs:
                    try:
                        lists.append(scorer.recommend(q, k))
                    except Img2SongError as e:
                        reason = re.sub(r"image \S+", "image <id>", str(e))[:160]
                        skipped[name][reason] = skipped[name].get(reason, 0) + 1
                        lists.append(None)
            for (image_id, _), got in zip(chunk, lists):
                if got is not None:
                    recs[name][image_id] = got
            bar.update(len(chunk))
        bar.close()
    return recs, skipped


def evaluate_run(run_dir: RunDir | str | Path, scorers: Sequence[str] = ("ne", "km", "pop"),
                 conceptnet_db: str | Path | None = None, ns: Sequence[int] = N_VALUES, k: int = 10,
                 seed: int = 0, n_boot: int = 2000, scorer_params: dict[str, dict[str, Any]] | None = None,
                 cache_dir: str | Path | None = None, write: bool = True, progress: bool = True) -> Report:
    """hit-rate@k and precision@k of each scorer for each n; writes report.{json,md,png} + per_query.jsonl."""
    run = RunDir.of(run_dir)
    ts = load_training_set(run)
    all_queries = load_eval_queries(run).keywords()
    if not all_queries:
        raise Img2SongError(f"{run.split}: no query images (field 'query' is empty); rebuild the network with "
                            "`img2song build-graph --holdout 0.2` (the share of images held out as queries)")
    queries = {i: kws for i, kws in all_queries.items() if kws}
    dropped = {"query image without keywords": len(all_queries) - len(queries)}
    source = RelatedWords(db_path=conceptnet_db, cache_dir=cache_dir,
                          dump=None if conceptnet_db else ts.corpus.related_words_dump)
    related, related_path = related_for_run(run.path, {w for kws in queries.values() for w in kws}, source,
                                            max(ns), progress=progress)
    recs, skipped = recommend_all(ts, scorers, queries, k, scorer_params, progress)
    answered = [i for i in queries if all(i in recs[s] for s in scorers)]
    lyrics = {s.id: s.lyrics for s in ts.corpus.songs}
    rows: list[dict[str, Any]] = []
    for name in scorers:
        for n in ns:
            for image_id in answered:
                kws = queries[image_id]
                words = set(kws) | {w for kw in kws for w in related.get(kw, [])[:n]}
                songs = [r.song_id for r in recs[name][image_id]]
                rows.append({"scorer": name, "n": n, "image": image_id, "keywords": kws, "songs": songs,
                             "hits": [contains_any(lyrics.get(s, ""), words) for s in songs]})
    meta = {"run": str(run.path), "k": k, "ns": list(ns), "seed": seed, "n_boot": n_boot,
            "queries_total": len(all_queries), "queries_evaluated": len(answered),
            "queries_dropped": {r: c for r, c in dropped.items() if c},
            "scorer_skips": {s: v for s, v in skipped.items() if v},
            "ground_truth": {"source": source.source_id, "related_words": str(related_path),
                             "keywords": len(related), "keywords_without_related_words":
                                 sorted(kw for kw, ws in related.items() if not ws)}}
    report = build_report(rows, list(scorers), list(ns), k, seed, n_boot, meta)
    if run.lstm_retrieval.is_file():  # written by `img2song lstm-retrieval`
        report.retrieval = json.loads(run.lstm_retrieval.read_text(encoding="utf-8"))
    if write:
        report.write(run.path)
        run.record("evaluate", {"scorers": list(scorers), "conceptnet_db": conceptnet_db, "ns": list(ns), "k": k,
                                "seed": seed, "n_boot": n_boot, "scorer_params": scorer_params or {}},
                   {"report": run.report_json, "per_query": run.per_query})
    return report
