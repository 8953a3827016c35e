"""EfficientNet-Lite1/Lite2 backbones, and the backbone comparison (probe accuracy, NN agreement, speed)."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.features.backbones import Backbone, get_backbone, register_backbone
from evaluation.app.cli import main
from evaluation.app.commands.bench_backbones import compare_run_backbones
from evaluation.bench.backbones import chance_agreement, neighbour_agreement
from evaluation.stages.rundir import RunDir, Stage
from graph.build import KeywordFile, Split
from graph.common.errors import Img2SongError
from tests.conftest import make_corpus

KEYWORDS = {"moon": "月", "flower": "花", "mountain": "山", "river": "江"}
COLOURS = {"moon": (240, 240, 40), "flower": (230, 30, 120), "mountain": (40, 120, 40), "river": (30, 60, 230)}
PER_KEYWORD, TRAIN_PER_KEYWORD = 7, 5


@register_backbone("test-cmp-color")
class MeanColour(Backbone):
    feature_dim, num_classes = 3, 0

    def preprocess(self, img):
        return torch.from_numpy(np.asarray(img.convert("RGB").resize((4, 4)), np.float32) / 255).permute(2, 0, 1)

    def forward(self, x):
        return x.mean(dim=(2, 3)), None


@register_backbone("test-cmp-flat")
class Flat(MeanColour):
    def forward(self, x):
        return torch.zeros(len(x), 3), None


def colour_run(tmp_path):
    """28 images, 7 per keyword, coloured by keyword (+ a small per-image shift); 5 of each train, 2 are queries."""
    images, train, query = [], [], []
    for tag in KEYWORDS:
        for j in range(PER_KEYWORD):
            iid = f"{tag}{j}"
            images.append({"id": iid, "file": f"images/{iid}.png", "tags": [tag], "caption": "", "language": "zh"})
            (train if j < TRAIN_PER_KEYWORD else query).append(iid)
    corpus = make_corpus(tmp_path / "corpus", images=images)
    for img in images:
        r, g, b = COLOURS[img["tags"][0]]
        k = int(img["id"][-1])
        Image.new("RGB", (12, 10), (r, g + 3 * k, b)).save(corpus / img["file"])
    run = RunDir(tmp_path / "run").create()
    run.save_split(Split(train, query))
    run.save_keywords(KeywordFile(list(KEYWORDS.values()) + ["酒"],
                                  {i["id"]: {KEYWORDS[i["tags"][0]]: 1.0} for i in images}, {}))
    run.record(Stage.BUILD_GRAPH, {"holdout": "by hand"}, corpus=str(corpus))
    return run.path


@pytest.mark.parametrize("name,resolution", [("efficientnet-lite1", 240), ("efficientnet-lite2", 260)])
def test_lite_backbones_load_offline_at_their_resolution(tmp_path, no_network, name, resolution):
    bb = get_backbone(name)
    x = bb.preprocess(Image.new("RGB", (300, 200), (10, 200, 30)))
    assert x.shape == (3, resolution, resolution)
    feats, logits = bb(x.unsqueeze(0))
    assert feats.shape == (1, 1280) and logits.shape == (1, 1000) and feats.std() > 0
    with torch.no_grad():  # pooled features feed the pretrained classifier: the full network's logits
        np.testing.assert_allclose(logits.numpy(), bb.net(x.unsqueeze(0)).numpy(), rtol=1e-4, atol=1e-4)
    assert bb.weights_path.name.startswith(name) and bb.cache_tag == name


def test_neighbour_agreement_known_answer():
    train = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]])
    train_kw = [{"a"}, {"a"}, {"b"}, {"c"}, {"c", "a"}]
    query = np.array([[0.4], [10.4]])
    # k=2: query 0 -> rows 0, 1 (both 'a'); query 1 -> rows 3, 4 ('c' shares with both)
    assert neighbour_agreement(query, train, [{"a"}, {"c"}], train_kw, k=2) == (1.0, 1.0)
    # query 0 with keyword 'b': neighbours 0, 1 share nothing; query 1 with 'a': only row 4 shares
    assert neighbour_agreement(query, train, [{"b"}, {"a"}], train_kw, k=2) == (0.5, 0.25)


def test_chance_agreement_matches_enumeration():
    train_kw = [{"a"}, {"b"}, {"a", "c"}, {"d"}, {"b"}, {"e"}]
    queries = [{"a"}, {"b", "c"}, {"z"}]
    k = 3
    subsets = list(itertools.combinations(range(len(train_kw)), k))
    anys = [np.mean([any(q & train_kw[j] for j in s) for s in subsets]) for q in queries]
    shares = [np.mean([np.mean([bool(q & train_kw[j]) for j in s]) for s in subsets]) for q in queries]
    got_any, got_share = chance_agreement(queries, train_kw, k)
    assert got_any == pytest.approx(np.mean(anys)) and got_share == pytest.approx(np.mean(shares))


def test_compare_backbones_separates_informative_from_flat_features(tmp_path):
    run = colour_run(tmp_path)
    lines = []
    c = compare_run_backbones(run, ["test-cmp-color", "test-cmp-flat"], k=5, speed_images=8, rounds=1,
                          progress=False, echo=lines.append)
    colour, flat = c.scores
    # colour encodes the keyword: the probe names it, and every neighbour shares it
    assert (colour.probe_top1, colour.nn_any, colour.nn_share) == (1.0, 1.0, 1.0)
    # flat features: one prediction for all 8 queries (2 per keyword) -> top-1 1/4, top-3 3/4; neighbours are the
    # first 5 training rows by index (the 5 moon images): moon queries share all 5, the others none
    assert (flat.probe_top1, flat.probe_top3) == (0.25, 0.75)
    assert (flat.nn_any, flat.nn_share) == (0.25, 0.25)
    assert colour.speed_ratio == 1.0 and flat.images_per_s > 0
    assert c.meta["chance"]["nn_share"] == pytest.approx(0.25) and c.meta["query_images"] == 8
    doc = json.loads((run / "bench" / "backbones.json").read_text(encoding="utf-8"))
    assert [b["backbone"] for b in doc["backbones"]] == ["test-cmp-color", "test-cmp-flat"]
    assert any(line.startswith("| test-cmp-flat | 224 |") for line in lines) and "wrote" in lines[-1]
    # a seeded sample keeps the run's train/query proportions and scores every backbone on the same images
    s = compare_run_backbones(run, ["test-cmp-color"], speed_images=4, rounds=1, max_images=12, progress=False,
                          out=tmp_path / "s.json", echo=lambda _: None)
    assert (s.meta["training_images"], s.meta["query_images"], s.meta["scored_images"]) == (9, 3, 12)


def test_cli_bench_backbones(tmp_path, capsys):
    run = colour_run(tmp_path)
    out = tmp_path / "cmp.json"
    assert main(["bench", "backbones", "--run", str(run), "--backbone", "test-cmp-flat", "--backbone",
                 "test-cmp-color", "--speed-images", "4", "--rounds", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| test-cmp-color |" in printed and "vs test-cmp-flat" in printed and str(out) in printed
    assert json.loads(out.read_text(encoding="utf-8"))["meta"]["baseline"] == "test-cmp-flat"
    assert main(["bench", "backbones", "--run", str(run), "--backbone", "resnet-1000"]) == 2
    assert "unknown backbone(s) resnet-1000" in capsys.readouterr().err
    with pytest.raises(Img2SongError, match="no images to time"):
        from evaluation.bench.backbones import time_extraction
        time_extraction(["test-cmp-flat"], [])
