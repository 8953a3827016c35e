"""The paper's image-to-song protocol: held-out query images, 10 songs per scorer, related-word ground truth."""
from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from engine.scorers.base import Query, Recommendation, TrainingSet, get_scorer
from evaluation.measure.experiment import PROTOCOLS, ExperimentConfig, GroundTruthConfig, ScorerSpec
from evaluation.measure.groundtruth import N_VALUES, ground_truth_source, related_for_run
from evaluation.measure.report import Report, build_report
from evaluation.measure.subsets import image_kinds, kind_figures
from evaluation.stages.fitted import load_or_fit
from evaluation.stages.html_report import recommendation_rows, write_html_report
from evaluation.stages.queries import load_eval_queries
from evaluation.stages.run_inputs import known_image_query, load_run_corpus, load_training_set
from evaluation.stages.rundir import RunDir, Stage
from graph.common.errors import Img2SongError
from graph.corpus import Corpus
from graph.occurrences import contains_any

PROTOCOL_DEFINITIONS = {
    "photo": "no scorer sees a query image's keywords: each gets the image only (CNN features and the keyword "
             "distribution predicted from its pixels), as for a user's new photo; KM matches the predicted keywords",
    "oracle": "the paper's protocol: the query image's true keywords are handed to the scorers (only KM reads "
              "them, so KM hits by construction; the others answer as under `photo`)",
}


def query_for(ts: TrainingSet, image_id: str, keywords: Sequence[str] = (), corpus: Corpus | None = None) -> Query:
    """A held-out image as a Query: what a new photo has (the run's CNN features, ImageNet logits and predicted
    keyword distribution), plus `keywords` (oracle only); `corpus` (the run's whole corpus) gives its file."""
    return known_image_query(ts, image_id, corpus, tuple(keywords))


def _ask(scorer: Any, qs: list[Query], k: int, skipped: dict[str, int]) -> list[list[Recommendation] | None]:
    """k songs per query in one batch; when the batch fails, query by query, counting each failure's reason (any
    exception a scorer raises on a query: a plug-in's ValueError is this scorer's failure, not the evaluation's)."""
    try:
        return list(scorer.recommend_batch(qs, k))
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - retried query by query below, where each failure is counted
        out: list[list[Recommendation] | None] = []
        for q in qs:
            try:
                out.append(scorer.recommend(q, k))
            except MemoryError:
                raise
            except Exception as e:  # noqa: BLE001 - counted per scorer with its reason, reported
                text = str(e) if isinstance(e, Img2SongError) else f"{type(e).__name__}: {e}"
                reason = re.sub(r"image \S+", "image <id>", text)[:160]
                skipped[reason] = skipped.get(reason, 0) + 1
                out.append(None)
        return out


def scorer_specs(scorers: Sequence[str | ScorerSpec | tuple[str, str, dict[str, Any]]],
                 scorer_params: dict[str, dict[str, Any]] | None = None) -> list[ScorerSpec]:
    """Names (type = name, parameters from scorer_params), (name, type, params) triples or ScorerSpecs."""
    out = []
    for s in scorers:
        if isinstance(s, ScorerSpec):
            out.append(s)
        elif isinstance(s, tuple):
            out.append(ScorerSpec(*s))
        else:
            out.append(ScorerSpec(s, s, dict((scorer_params or {}).get(s, {}))))
    return out


def recommend_all(ts: TrainingSet, scorers: Sequence[str | ScorerSpec], queries: dict[str, list[str]], k: int = 10,
                  scorer_params: dict[str, dict[str, Any]] | None = None, protocols: Sequence[str] = PROTOCOLS,
                  progress: bool = True, batch_size: int = 256, run: RunDir | None = None,
                  corpus: Corpus | None = None,
                  ) -> tuple[dict[str, dict[str, dict[str, list[Recommendation]]]], dict[str, dict[str, dict[str, int]]]]:
    """Fit every scorer once, then ask it for k songs per query under each protocol: recs[protocol][scorer][image].
    Only the oracle protocol's queries carry keywords. Per-query failures are counted, not fatal. With `run`, each
    scorer is saved there (fitted once, then loaded); `corpus`: the run's whole corpus (the queries' files)."""
    for p in protocols:
        if p not in PROTOCOLS:
            raise Img2SongError(f"unknown protocol {p!r}: expected one of {', '.join(PROTOCOLS)}")
    recs = {p: {} for p in protocols}
    skipped = {p: {} for p in protocols}
    items = list(queries.items())
    for spec in scorer_specs(scorers, scorer_params):
        name = spec.name
        params = spec.resolved_params()
        scorer = (load_or_fit(run, name, params, data=ts, kind=spec.type).scorer if run is not None
                  else get_scorer(spec.type, **params).fit(ts))  # saved in the run: fitted once, then loaded
        for p in protocols:
            recs[p][name], skipped[p][name] = {}, {}
            bar = tqdm(total=len(items), desc=f"recommend ({name}, {p})", disable=not progress)
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                qs = [query_for(ts, image_id, kws if p == "oracle" else (), corpus) for image_id, kws in chunk]
                for (image_id, _), got in zip(chunk, _ask(scorer, qs, k, skipped[p][name])):
                    if got is not None:
                        recs[p][name][image_id] = got
                bar.update(len(chunk))
            bar.close()
    return recs, skipped


def keyword_predictor_accuracy(ts: TrainingSet, queries: dict[str, list[str]]) -> dict[str, Any]:
    """Top-1 / top-3 accuracy of the run's keyword tags on the query images (a hit: a true keyword among them),
    beside always guessing the most frequent training keyword."""
    from collections import Counter

    ids = [i for i in queries if ts.tags is not None and i in ts.tags]
    out: dict[str, Any] = {"source": ts.tag_source or "none", "queries": len(ids)}
    if not ids:
        return out
    vocab = ts.tag_vocab
    for k in (1, 3):
        hits = []
        for i in ids:
            top = np.argsort(-np.asarray(ts.tags[i]), kind="stable")[:k]
            hits.append(bool({vocab[j] for j in top} & set(queries[i])))
        out[f"top{k}"] = float(np.mean(hits))
    freq = Counter(w for kws in ts.image_keywords.values() for w in kws)
    if freq:
        common = freq.most_common(1)[0][0]
        out["majority_top1"] = float(np.mean([common in queries[i] for i in ids]))
    return out


def evaluate_run(run_dir: RunDir | str | Path, scorers: Sequence[str | ScorerSpec | tuple] = ("ne", "km", "pop"),
                 conceptnet_db: str | Path | None = None, ns: Sequence[int] = N_VALUES, k: int = 10,
                 seed: int = 0, n_boot: int = 2000, scorer_params: dict[str, dict[str, Any]] | None = None,
                 cache_dir: str | Path | None = None, write: bool = True, progress: bool = True,
                 protocols: Sequence[str] = PROTOCOLS, config: dict[str, Any] | None = None) -> Report:
    """hit-rate@k and precision@k of each scorer for each n under each protocol; writes report.{json,md,png,html},
    per_query.jsonl and recommendations.jsonl.

    `scorers`: names, or (report name, scorer type, parameters) as ScorerSpec or tuple, so that one type can run
    under several settings. `config`: the resolved experiment config to record (default: from these arguments).
    """
    specs = scorer_specs(scorers, scorer_params)
    if config is None:
        config = ExperimentConfig(scorers=specs, k=k, ns=list(ns), seed=seed, n_boot=n_boot,
                                  protocols=list(protocols),
                                  ground_truth=GroundTruthConfig(str(conceptnet_db) if conceptnet_db else None)
                                  ).to_dict()
    scorers = [s.name for s in specs]
    run = RunDir.of(run_dir)
    corpus = load_run_corpus(run)
    ts = load_training_set(run, corpus)
    all_queries = load_eval_queries(run).keywords()
    if not all_queries:
        raise Img2SongError(f"{run.split}: no query images (field 'query' is empty); rebuild the network with "
                            "`img2song build-graph --holdout 0.2` (the share of images held out as queries)")
    queries = {i: kws for i, kws in all_queries.items() if kws}
    dropped = {"query image without keywords": len(all_queries) - len(queries)}
    source = ground_truth_source(conceptnet_db, corpus.related_words_dump, cache_dir, progress,
                                 echo=tqdm.write if progress else None)
    related, fresh = related_for_run(run.load_related_words(), {w for kws in queries.values() for w in kws},
                                     source, max(ns), progress=progress)
    related_path = run.save_related_words(fresh) if fresh is not None else run.related_words
    recs, skipped = recommend_all(ts, specs, queries, k, protocols=protocols, progress=progress, run=run,
                                  corpus=corpus)
    # a query one scorer failed on stays in the others' sets (paired tests use the queries both answered)
    answered = [i for i in queries if any(i in recs[p][s] for p in protocols for s in scorers)]
    lyrics = {s.id: s.lyrics for s in ts.corpus.songs}
    eid = uuid.uuid4().hex[:16]  # stamped into report.json and every row of per_query / recommendations.jsonl
    rows: list[dict[str, Any]] = []
    for p in protocols:
        for name in scorers:
            for n in ns:
                for image_id in (i for i in answered if i in recs[p][name]):
                    kws = queries[image_id]
                    words = set(kws) | {w for kw in kws for w in related.get(kw, [])[:n]}
                    songs = [r.song_id for r in recs[p][name][image_id]]
                    rows.append({"protocol": p, "scorer": name, "n": n, "image": image_id, "keywords": kws,
                                 "songs": songs, "hits": [contains_any(lyrics.get(s, ""), words) for s in songs],
                                 "evaluation_id": eid})
    meta = {"run": str(run.path), "evaluation_id": eid, "k": k, "ns": list(ns), "seed": seed, "n_boot": n_boot,
            "queries_total": len(all_queries), "queries_evaluated": len(answered),
            "queries_answered": {p: {s: len(recs[p][s]) for s in scorers} for p in protocols},
            "catalogue_songs": len(ts.corpus.songs),
            "queries_dropped": {r: c for r, c in dropped.items() if c},
            "scorer_skips": {p: {s: v for s, v in by.items() if v} for p, by in skipped.items()
                             if any(by.values())},
            "protocol_definitions": {p: PROTOCOL_DEFINITIONS[p] for p in protocols},
            "keyword_predictor": keyword_predictor_accuracy(ts, queries),
            "config": config,
            "ground_truth": {"source": source.source_id, "description": source.description,
                             "build": source.build, "related_words": str(related_path),
                             "skipped": dict(source.skipped),
                             "keywords": len(related), "keywords_without_related_words":
                                 sorted(kw for kw, ws in related.items() if not ws)}}
    # the full corpus: the scorers' view holds training images only, and the kinds are of the query images
    meta["by_kind"] = kind_figures(rows, image_kinds(corpus.images), k, ts.tags, ts.tag_vocab, queries, ts.tag_source)
    report = build_report(rows, list(scorers), list(ns), k, seed, n_boot, meta, protocols=list(protocols))
    report.retrieval = run.load_lstm_retrieval()  # written by `img2song lstm-retrieval`
    if write:  # one set: marked incomplete until all are written (a killed evaluate leaves the mark)
        run.begin(Stage.EVALUATE, evaluation_id=eid)
        run.save_report(report)
        # report.html with every song's explanation (recommendations.jsonl), see evaluation/stages/html_report.py
        run.save_recommendations(recommendation_rows(recs, answered, evaluation_id=eid))
        write_html_report(run)
        run.record(Stage.EVALUATE, config,
                   {"evaluation_id": eid, "report": run.report_json, "per_query": run.per_query, "report_html": run.report_html,
                    "recommendations": run.recommendations})
    return report


def evaluate_experiment(run_dir: str | Path, config: ExperimentConfig, **kwargs: Any):
    """evaluate_run with everything the config says (plug-in modules imported first); the report records it."""
    config.load_plugins()
    return evaluate_run(run_dir, scorers=config.scorers, conceptnet_db=config.ground_truth.conceptnet_db,
                        ns=config.ns, k=config.k, seed=config.seed, n_boot=config.n_boot,
                        protocols=list(config.protocols), config=config.to_dict(), **kwargs)
