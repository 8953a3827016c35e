"""The notebooks run: each executed top to bottom through nbclient (a cell error fails the test), on tiny
settings passed through the environment (their parameter cells read it); committed without outputs."""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import make_corpus
from tests.scorer_contract import write_dump

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NAMES = ("quickstart", "compare-scorers", "own-corpus")


def execute(name: str) -> tuple[nbformat.NotebookNode, float]:
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    tic = time.perf_counter()
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}},
                   record_timing=True).execute()
    return book, time.perf_counter() - tic


def cell_seconds(book: nbformat.NotebookNode) -> list[float]:
    out = []
    for c in book.cells:
        t = c.metadata.get("execution", {})
        if "iopub.execute_input" in t and "shell.execute_reply" in t:
            a, b = (datetime.fromisoformat(t[k].replace("Z", "+00:00")) for k in ("iopub.execute_input",
                                                                                    "shell.execute_reply"))
            out.append(round((b - a).total_seconds(), 1))
    return out


def outputs(book: nbformat.NotebookNode) -> str:
    return "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", "")) for c in book.cells
                     if c.cell_type == "code" for o in c.outputs)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebooks")
    corpus = make_corpus(root / "corpus")
    write_dump(corpus / "related_words.tsv.gz", [("/r/RelatedTo", "/c/zh/月", "/c/zh/明月", 2.0),
                                                  ("/r/Synonym", "/c/zh/船", "/c/zh/舟", 1.0)])
    env = {"IMG2SONG_NB_CORPUS": str(corpus), "IMG2SONG_NB_RUN": str(root / "run"),
           "IMG2SONG_NB_OWN_RUN": str(root / "own" / "run"), "IMG2SONG_NB_LINE_SAMPLES": "20000",
           "IMG2SONG_NB_EXAMPLE_SONGS": "80", "IMG2SONG_NB_EXAMPLE_IMAGES": "16",
           # tiny tensors: one intra-op thread (two threads on a busy 2-core machine made the keyword probe's
           # L-BFGS fits 40x slower in wall time: 12 s instead of 0.3 s a fit)
           "OMP_NUM_THREADS": "1"}
    with pytest.MonkeyPatch.context() as mp:  # the kernels inherit this process's environment
        for k, v in env.items():
            mp.setenv(k, v)
        yield root


@pytest.fixture(scope="module")
def quickstart(settings):
    return execute("quickstart")


def test_committed_notebooks_have_no_outputs():
    for name in NAMES:
        book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(book)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert code and all(c.outputs == [] and c.execution_count is None for c in code), name
        assert any("parameters" in c.metadata.get("tags", []) for c in code), name
        assert not any("subprocess" in c.source or c.source.lstrip().startswith("!") for c in code), name


def test_quickstart_runs_the_whole_flow(settings, quickstart):
    book, seconds = quickstart
    run = settings / "run"
    for f in ("network.npz", "embeddings.npz", "features/features.npz", "report.json", "report.html",
              "export/projector/sprite.png"):
        assert (run / f).is_file(), f
    text = outputs(book)
    assert "hit rate@10" in text and "report.html" in text and "near image" in text
    print(f"\nquickstart.ipynb executed in {seconds:.1f} s (cells: {cell_seconds(book)})")


def test_compare_scorers_reads_the_run(settings, quickstart):
    book, seconds = execute("compare-scorers")
    text = outputs(book)
    assert "ne vs km at n = 5" in text and "McNemar p" in text
    kinds = [m for c in book.cells if c.cell_type == "code" for o in c.outputs for m in o.get("data", {})]
    queries = json.loads((settings / "run" / "report.json").read_text(encoding="utf-8"))["queries_evaluated"]
    assert kinds.count("image/png") == 1 and kinds.count("image/jpeg") == min(3, queries) > 0  # plots; cards
    print(f"\ncompare-scorers.ipynb executed in {seconds:.1f} s (cells: {cell_seconds(book)})")


def test_own_corpus_builds_a_corpus_and_evaluates_it(settings):
    book, seconds = execute("own-corpus")
    run = settings / "own" / "run"
    assert (run / "report.html").is_file() and (settings / "own" / "own-corpus-data" / "songs.jsonl").is_file()
    assert "query images; hit_rate@10 by n" in outputs(book)
    print(f"\nown-corpus.ipynb executed in {seconds:.1f} s (cells: {cell_seconds(book)})")
