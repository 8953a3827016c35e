"""Probe calibration by kind of image: python -m evaluation.bench.calibration --run DIR.

Reads the run's keyword-probe output (temperature fitted on out-of-fold rows) and refits the probe with the
temperature fitted on its validation split alone (the previous default); prints, for the query images split by
kind (photo / drawing, images.jsonl field `kind`) and for the out-of-fold training rows: top-1,
mean top-1 probability, top-1 ECE (15 equal-width bins) and the confident-and-wrong rate (top-1 probability >= 0.8
and wrong). Query images are only scored, never fitted on. Prints what it measured; writes nothing.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from engine.features.probe import KeywordProbe, calibration_figures, keyword_targets
from engine.features.table import FeatureTable
from evaluation.stages.rundir import RunDir


def check(run_dir: str | Path, seed: int = 0) -> dict[str, dict[str, dict]]:
    """{setting: {subset: calibration_figures}}: "out-of-fold" reads the run's keyword_probs.npz (what `img2song
    features` wrote: query rows from the final probe, training rows out of fold); "validation" refits the probe with
    the temperature fitted on its validation split alone (the previous default) and scores the query images."""
    run = RunDir.of(run_dir).require_dir()
    feats, probs = FeatureTable.load(run.features), FeatureTable.load(run.keyword_probs)
    kw = run.load_keywords()
    split = run.load_split()
    kinds = {i.id: i.kind or "unstated" for i in run.load_corpus().images}
    train = [i for i in split.train if i in feats and kw.images.get(i)]
    query = [i for i in split.query if i in feats and kw.images.get(i)]
    index = {w: j for j, w in enumerate(kw.vocabulary)}
    truth = {i: {index[w] for w in kw.images[i] if w in index} for i in train + query}

    def by_kind(name: str, ids: list[str], p: np.ndarray) -> dict[str, dict]:
        out = {}
        for kind in sorted({kinds.get(i, "unstated") for i in ids}):
            rows = [r for r, i in enumerate(ids) if kinds.get(i, "unstated") == kind]
            out[f"{name}:{kind}"] = calibration_figures(p[rows], [truth[ids[r]] for r in rows])
        return out

    oof_ids = [i for i in train if i in set(probs.meta.get("out_of_fold", []))]
    res = {"out-of-fold": {**by_kind("query", query, np.stack([probs[i] for i in query])),
                           **by_kind("out-of-fold", oof_ids, np.stack([probs[i] for i in oof_ids]))}}
    t0 = time.process_time()
    x, y = np.stack([feats[i] for i in train]), keyword_targets(train, kw.images, kw.vocabulary)
    probe = KeywordProbe(seed=seed, vocabulary=list(kw.vocabulary), calibration="validation").fit(x, y)
    res["validation"] = by_kind("query", query, probe.predict_proba(np.stack([feats[i] for i in query])))
    res["validation"]["_"] = {"temperature": round(float(probe.temperature_), 4), "l2": probe.l2_,
                              "cpu_seconds": round(time.process_time() - t0, 1)}
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a run after `img2song features`")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    res = check(a.run, a.seed)
    print("| calibration | subset | rows | top-1 | mean top-1 prob | ECE (15 bins) | confident-and-wrong (>= 0.8) |")
    print("|---|---|---|---|---|---|---|")
    for cal, by in res.items():
        for subset, f in by.items():
            if subset != "_":
                print(f"| {cal} | {subset} | {f['rows']} | {f.get('top1', float('nan')):.3f} | "
                      f"{f.get('mean_confidence', float('nan')):.3f} | {f.get('ece_15_bins', float('nan')):.3f} | "
                      f"{f.get('confident_wrong_0.8', float('nan')):.3f} |")
        if "_" in by:
            print(f"| {cal} | temperature {by['_']['temperature']}, L2 {by['_']['l2']}, "
                  f"{by['_']['cpu_seconds']} CPU s | | | | | |")


if __name__ == "__main__":
    main()
