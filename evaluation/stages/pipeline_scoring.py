"""The scoring stages: evaluate, fit_scorers, recommend (evaluation.stages.pipeline re-exports these)."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evaluation.stages.rundir import RunDir
from graph.common.errors import Img2SongError

Echo = Callable[[str], None]


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
