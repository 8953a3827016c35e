"""LINE estimator end to end: naive baseline parity, config checks, checkpoint/resume, the train stage and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.line import LINE, LineConfig
from engine.line.config import CHUNK
from engine.line.cpu import CpuImpl
from evaluation.app.cli import main as cli_main
from evaluation.stages.pipeline import train_embeddings
from graph.common.errors import Img2SongError
from tests.line_contract import les_miserables, quality


@pytest.mark.parametrize("order", [1, 2])
def test_naive_baseline_matches_reference_quality(order):
    """Same sampler stream and objective; only the per-batch lr differs, so the AUCs agree closely."""
    ref = quality("reference", "cpu", "les_miserables", order, 30_000, (0,))
    naive = quality("naive", "cpu", "les_miserables", order, 30_000, (0,))
    assert ref > 0.6 and abs(naive - ref) <= 0.01, (naive, ref)


def test_config_rejects_unknown_keys_by_name():
    with pytest.raises(Img2SongError, match="'dimension'"):
        LineConfig.from_dict({"dimension": 8})
    with pytest.raises(Img2SongError, match="'order'"):
        LineConfig(order=3)
    with pytest.raises(Img2SongError, match="'dim'"):
        LineConfig(dim=7, order="both")
    with pytest.raises(Img2SongError, match="unknown LINE impl"):
        LINE(impl="gpu-magic", progress=False).fit(les_miserables())


def test_default_samples_follow_the_cpp_floor():
    assert LineConfig().resolved_samples(500) == 1_000_000
    assert LineConfig().resolved_samples(2_500_000) == 25_000_000
    assert LineConfig(samples=20_000_000).resolved_samples(10) == 20_000_000


def test_resume_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    net = les_miserables()
    args = dict(dim=8, order="both", samples=3 * CHUNK, impl="cpu", threads=1, seed=1, progress=False,
                checkpoint=str(tmp_path / "a.ckpt"), checkpoint_every=CHUNK)
    full = LINE(**args).fit(net).embeddings_.vectors
    calls = {"n": 0}
    real = CpuImpl.train

    def crashing(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 5:  # order 1 done (3 chunks), order 2 crashes in its second chunk
            raise KeyboardInterrupt
        return real(self, *a, **kw)

    monkeypatch.setattr(CpuImpl, "train", crashing)
    args["checkpoint"] = str(tmp_path / "b.ckpt")
    with pytest.raises(KeyboardInterrupt):
        LINE(**args).fit(net)
    monkeypatch.setattr(CpuImpl, "train", real)
    resumed = LINE(**args).fit(net, resume=True)
    np.testing.assert_array_equal(resumed.embeddings_.vectors, full)
    assert resumed.stats_["2"]["samples"] == 3 * CHUNK
    with pytest.raises(Img2SongError, match="'seed'"):
        LINE(**{**args, "seed": 2}).fit(net, resume=True)


def test_train_writes_embeddings_and_report(tmp_path):
    net = les_miserables()
    out = train_embeddings(graph=net, out=tmp_path / "run", dim=8, order=2, samples=50_000, threads=1,
                           progress=False, echo=lambda s: None)
    doc = json.loads((out / "line.json").read_text())
    assert doc["resolved"]["samples"] == 50_000 and doc["orders"]["2"]["edges_per_s"] > 0
    from engine.embeddings import EmbeddingTable

    table = EmbeddingTable.load(out / "embeddings.npz", "npz")
    assert table.ids == net.ids and table.vectors.shape == (net.num_vertices, 8)
    with pytest.raises(Img2SongError, match="unknown key 'dimension'"):
        train_embeddings(graph=net, out=tmp_path / "x", dimension=8)


def test_cli_trains_an_edge_list(tmp_path, capsys):
    edges = tmp_path / "net.txt"
    edges.write_text("a b 1\nb a 1\nb c 2\nc b 2\na c 1\nc a 1\n")
    rc = cli_main(["train", "--edgelist", str(edges), "--out", str(tmp_path / "o"), "--dim", "4", "--order", "1",
                   "--samples", "20k", "--threads", "1"])
    assert rc == 0
    assert "embeddings.npz" in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "line.json").read_text())["resolved"]["samples"] == 20_000
    edges.write_text("a b 1\nb c x\n")
    assert cli_main(["train", "--edgelist", str(edges), "--out", str(tmp_path / "p")]) == 2
    assert "net.txt:2" in capsys.readouterr().err
