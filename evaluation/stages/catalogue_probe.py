"""The live catalogue's keyword probe: refitted (warm-started) after images are added or removed, kept in the run
(CatalogueStore.store_probe / load_probe) and named by a "refit" transaction of the journal, so a killed refit leaves
the probe as before it; `replay` (evaluation.stages.catalogue) installs the last committed one."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.live.catalogue import LiveCatalogue
from evaluation.stages.rundir import RunDir

Echo = Callable[[str], None]


def run_probe(run: RunDir | str | Path, data: Any) -> Any:
    """The run's trained keyword probe when its photo tags come from one (else None: ImageNet hypernyms)."""
    return RunDir.of(run).load_keyword_probe() if data.tag_source == "keyword-probe" else None


def commit_probe(cat: LiveCatalogue, probe: Any, seen: int, store: Any) -> LiveCatalogue:
    """Keep a refitted probe (fitted on the state whose image_changes was `seen`), commit the "refit" transaction
    naming it, and return `cat` with it installed."""
    path, digest = store.store_probe(probe)
    with store.lock(), store.transaction("refit", 1) as put:
        put("probe", {"file": str(path.relative_to(store.run.path)), "sha256": digest, "seen": seen,
                      "training_images": probe.validation_["refit"]["images"]})
    return cat.with_probe(probe, seen)


def refit_probe(cat: LiveCatalogue, store: Any, echo: Echo | None = None) -> LiveCatalogue:
    """Refit the keyword probe on `cat`'s training images (warm-started), keep it, commit a "refit" transaction
    naming it, and return `cat` with it installed. A kill before the commit leaves the probe as it was; the next
    change that adds or removes an image refits it then."""
    t0, c0 = time.perf_counter(), time.process_time()
    probe = cat.refit_probe()
    nxt = commit_probe(cat, probe, cat.image_changes, store)
    if echo is not None:
        echo(f"keyword probe: refitted on {probe.validation_['refit']['images']} training images "
             f"({time.process_time() - c0:.2f} CPU s, {time.perf_counter() - t0:.2f} s), photos tagged again; "
             f"committed to {store.journal}")
    return nxt
