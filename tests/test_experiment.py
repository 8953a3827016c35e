"""Experiments as files (evaluate --config) and scorer plug-ins (--scorer-module, entry points img2song.scorers)."""
from __future__ import annotations

import json
import textwrap

import pytest

from engine.scorers.base import SCORERS, scorer_names
from evaluation.app.cli import main
from evaluation.measure.experiment import ExperimentConfig, load_experiment
from evaluation.stages.protocol import evaluate_run
from graph.common.errors import Img2SongError
from tests.scorer_contract import QUERY, make_run

EXPERIMENT = """
k = 5
ns = [0, 5]
seed = 3
n_boot = 50
protocols = ["photo"]

[scorers.ne]
[scorers.ne-3x3]
type = "ne"
n_images = 3
songs_per_image = 3
[scorers.km]
"""


def write(tmp_path, text, name="experiment.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_config_parses_named_scorers_with_resolved_parameters(tmp_path):
    cfg = load_experiment(write(tmp_path, EXPERIMENT))
    assert [(s.name, s.type) for s in cfg.scorers] == [("ne", "ne"), ("ne-3x3", "ne"), ("km", "km")]
    assert (cfg.k, cfg.ns, cfg.seed, cfg.n_boot, cfg.protocols) == (5, [0, 5], 3, 50, ["photo"])
    doc = cfg.to_dict()
    params = {s["name"]: s["params"] for s in doc["scorers"]}
    index = {"index": "auto", "exact_max": 50_000, "max_k": 20}  # NE's retrieval index (engine.index)
    assert params["ne"] == {"n_images": 5, "songs_per_image": 2, "knn_method": "auto", **index}  # the paper's 5 x 2
    assert params["ne-3x3"] == {"n_images": 3, "songs_per_image": 3, "knn_method": "auto", **index}
    assert doc["source"].endswith("experiment.toml") and doc["ground_truth"] == {"conceptnet_db": None}
    defaults = ExperimentConfig()
    assert [s.name for s in defaults.scorers] == ["ne", "km", "pop"] and defaults.ns == [0, 5, 10, 50, 100]


@pytest.mark.parametrize("text, message", [
    ("n_boots = 10\n", r"experiment.toml: unknown key 'n_boots'; known: .*n_boot"),
    ("[ground_truth]\ndb = 'x.db'\n", r"experiment.toml: \[ground_truth\] unknown key 'db'; known: conceptnet_db"),
    ("[scorers.ne-3x3]\ntype = 'ne'\nn_imgs = 3\n",
     r"experiment.toml: \[scorers.ne-3x3\]: unknown parameter 'n_imgs' of scorer type 'ne'; known: n_images"),
    ("[scorers.x]\ntype = 'nee'\n", r"unknown scorer 'nee'; known: .*ne"),
    ("k = 0\n", r"experiment.toml: field 'k' must be an integer >= 1, got 0"),
    ("ns = [5, 5]\n", r"field 'ns' must be a non-empty list of distinct integers"),
    ("protocols = ['photo', 'keywords']\n", r"field 'protocols' must be a non-empty list of 'photo' \| 'oracle'"),
    ("scorers = 'ne'\n", r"'scorers' must be tables \[scorers.NAME\]"),
    ("k = \n", r"experiment.toml: not valid TOML"),
])
def test_config_rejects_by_key_name_and_file(tmp_path, text, message):
    with pytest.raises(Img2SongError, match=message):
        load_experiment(write(tmp_path, text)).to_dict()


def test_cli_evaluate_config_records_resolved_config(tmp_path, capsys):
    run = make_run(tmp_path)
    path = write(tmp_path, EXPERIMENT)
    assert main(["evaluate", "--run", str(run), "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ne-3x3" in out and f"experiment {path}" in out
    doc = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert list(doc["scorers"]) == ["ne", "ne-3x3", "km"]
    assert doc["k"] == 5 and doc["ns"] == [0, 5] and set(doc["scorers"]["ne"]["hit_rate@5"]) == {"0", "5"}
    cfg = doc["config"]
    assert cfg["seed"] == 3 and cfg["n_boot"] == 50 and cfg["protocols"] == ["photo"]
    assert list(doc["protocols"]) == ["photo"]  # the file's protocols reach the protocol code
    assert cfg["scorers"][1] == {"name": "ne-3x3", "type": "ne",
                                 "params": {"n_images": 3, "songs_per_image": 3, "knn_method": "auto",
                                            "index": "auto", "exact_max": 50_000, "max_k": 20}}
    rows = [json.loads(line) for line in (run / "per_query.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["scorer"] for r in rows} == {"ne", "ne-3x3", "km"} and {r["protocol"] for r in rows} == {"photo"}
    assert json.loads((run / "run.json").read_text(encoding="utf-8"))["stages"]["evaluate"]["params"] == cfg
    # 3 x 3 asks 3 neighbour images for 3 songs each: at most 9 songs; 5 x 2 fills k = 5 from 5 images
    assert all(len(r["songs"]) <= 5 for r in rows)
    # a bad file is exit 2 naming the key, and writes nothing
    (run / "report.json").unlink()
    bad = write(tmp_path, "[scorers.ne]\nn_image = 3\n", "bad.toml")
    assert main(["evaluate", "--run", str(run), "--config", str(bad)]) == 2
    assert "unknown parameter 'n_image'" in capsys.readouterr().err and not (run / "report.json").exists()


def test_evaluate_run_takes_name_type_params_triples(tmp_path):
    run = make_run(tmp_path)
    rep = evaluate_run(run, scorers=[("pop-small", "pop", {"pool": 2}), ("pop", "pop", {})], ns=[0], n_boot=20,
                       cache_dir=tmp_path / "cn", progress=False)
    assert list(rep.scorers) == ["pop-small", "pop"]
    assert rep.meta["config"]["scorers"][0] == {"name": "pop-small", "type": "pop", "params": {"pool": 2, "seed": 0}}
    assert rep.meta["config"]["protocols"] == ["photo", "oracle"]  # evaluate_run's default, recorded
    assert rep.scorers["pop"]["queries"] == len(QUERY)


PLUGIN = '''
from engine.scorers.base import Recommendation, Scorer, register_scorer


@register_scorer("{name}")
class LastSongs(Scorer):
    """A user's scorer: the last k songs of the corpus, newest first."""

    def __init__(self, offset: int = 0):
        self.offset = offset

    def fit(self, data):
        self.ids_ = [s.id for s in data.corpus.songs][::-1][self.offset:]
        return self

    def recommend(self, query, k=10):
        return [Recommendation(s, -j, "last songs") for j, s in enumerate(self.ids_[:k])]
'''


def test_scorer_module_plugs_in_through_the_cli(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path)
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "my_test_scorers.py").write_text(PLUGIN.format(name="test-last-songs"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "plug"))
    assert main(["evaluate", "--run", str(run), "--scorers", "test-last-songs,km",
                 "--scorer-module", "my_test_scorers"]) == 0
    doc = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert set(doc["scorers"]) == {"test-last-songs", "km"} and "ne_vs_km" not in doc["paired_tests"]
    assert doc["config"]["scorer_modules"] == ["my_test_scorers"]
    assert doc["config"]["scorers"][0]["params"] == {"offset": 0}
    rows = [json.loads(x) for x in (run / "per_query.jsonl").read_text(encoding="utf-8").splitlines()]
    songs = [r["songs"] for r in rows if r["scorer"] == "test-last-songs"]
    assert songs and all(s == songs[0] for s in songs) and songs[0][0] == "s8"  # the last song first
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--scorer-module", "no_such_module_xyz"]) == 2
    assert "no_such_module_xyz" in capsys.readouterr().err
    (tmp_path / "plug" / "my_broken_scorers.py").write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    assert main(["evaluate", "--run", str(run), "--scorer-module", "my_broken_scorers"]) == 2
    assert "'my_broken_scorers' failed to import: RuntimeError: boom" in capsys.readouterr().err


def test_entry_point_plugs_in_without_import(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist = site / "img2song_test_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: img2song-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[img2song.scorers]\ntest-ep-last = img2song_test_plugin_mod:LastSongs\n"
        "test-ep-broken = img2song_test_plugin_missing:Nope\n")
    # the class registers itself under another name; the entry point's name is what the user asks for
    (site / "img2song_test_plugin_mod.py").write_text(PLUGIN.format(name="test-ep-internal"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    assert {"test-ep-last", "test-ep-broken"} <= set(scorer_names())
    run = make_run(tmp_path)
    rep = evaluate_run(run, scorers=("test-ep-last", "km"), ns=[0], n_boot=20, cache_dir=tmp_path / "cn",
                       progress=False)
    assert set(rep.scorers) == {"test-ep-last", "km"} and rep.scorers["test-ep-last"]["queries"] == len(QUERY)
    assert SCORERS.get("test-ep-last").__name__ == "LastSongs"
    with pytest.raises(Img2SongError, match=r"plug-in 'test-ep-broken' .*img2song-test-plugin.*failed to load"):
        SCORERS.get("test-ep-broken")
