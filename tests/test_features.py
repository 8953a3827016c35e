"""Image features: cache (second run decodes nothing), counted skips, backbones offline, ImageNet -> keyword tags."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import engine.features.extract as extract_mod
from engine.features import (
    FeatureTable,
    ImageNetTagger,
    extract_features,
    get_backbone,
    load_hypernyms,
    top_keywords,
)
from engine.features.backbones import Backbone, load_state_dict_file, register_backbone, to_rgb
from engine.features.build_hypernyms import hypernym_levels, parse_data_noun
from graph.common.errors import Img2SongError


@register_backbone("test-mean-color")
class MeanColor(Backbone):
    """A tiny stand-in CNN: features = mean RGB, logits = fixed projection; counts its forward calls."""

    feature_dim = 3
    num_classes = 1000
    forwards = 0

    def __init__(self, weights=None):
        super().__init__()
        self.proj = torch.linspace(-1, 1, 3000).reshape(3, 1000)

    def preprocess(self, img):
        x = torch.from_numpy(np.asarray(to_rgb(img).resize((4, 4)), dtype=np.float32) / 255.0)
        return x.permute(2, 0, 1)

    def forward(self, x):
        type(self).forwards += 1
        f = x.mean(dim=(2, 3))
        return f, f @ self.proj


def write_images(folder, n=5):
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for j in range(n):
        p = folder / f"im{j}.png"
        Image.new("RGB", (10 + j, 8), (40 * j, 100, 200)).save(p)
        items.append((f"im{j}", p))
    return items


def test_second_run_reads_each_file_once_and_decodes_none(tmp_path, monkeypatch):
    items = write_images(tmp_path / "img")
    from PIL import ImageFile

    reads, opens, decodes = [], [], []
    real_read, real_open, real_load = extract_mod._read_bytes, Image.open, ImageFile.ImageFile.load
    monkeypatch.setattr(extract_mod, "_read_bytes", lambda p: reads.append(p) or real_read(p))
    monkeypatch.setattr(Image, "open", lambda *a, **k: opens.append(1) or real_open(*a, **k))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decodes.append(1) or real_load(self))
    first = extract_features(items, "test-mean-color", cache_dir=tmp_path / "cache", batch_size=2, progress=False)
    assert (first.report.computed, first.report.cached) == (5, 0)
    assert len(reads) == 5 and len(opens) == 5
    assert len(list((tmp_path / "cache" / "test-mean-color").glob("*.npy"))) == 5
    reads.clear(), opens.clear(), decodes.clear()
    MeanColor.forwards = 0
    second = extract_features(items, "test-mean-color", cache_dir=tmp_path / "cache", batch_size=2, progress=False)
    assert (second.report.computed, second.report.cached) == (0, 5)
    # a hit reads the header (Image.open is lazy: EXIF orientation and shape are in the cache key, issue 22
    # cases 1 and 16) and decodes no pixel
    assert len(reads) == 5 and decodes == [] and len(opens) == 5 and MeanColor.forwards == 0
    np.testing.assert_array_equal(first.features.matrix, second.features.matrix)
    np.testing.assert_array_equal(first.logits.matrix, second.logits.matrix)
    # the key is the content: a renamed copy hits the cache, an edited file does not
    shutil.copy(items[0][1], tmp_path / "copy.png")
    Image.new("RGB", (9, 9), (1, 2, 3)).save(items[1][1])
    third = extract_features([("c", tmp_path / "copy.png"), items[1]], "test-mean-color",
                             cache_dir=tmp_path / "cache", progress=False)
    assert (third.report.cached, third.report.computed) == (1, 1)
    np.testing.assert_allclose(third.features["c"], first.features["im0"])
    np.testing.assert_allclose(third.features["im1"], [1 / 255, 2 / 255, 3 / 255], atol=1e-6)


def test_corrupt_and_missing_images_are_counted_not_fatal(tmp_path):
    items = write_images(tmp_path / "img", 3)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    items += [("bad", tmp_path / "bad.png"), ("gone", tmp_path / "missing.jpg")]
    out = extract_features(items, "test-mean-color", use_cache=False, progress=False)
    assert out.features.ids == ["im0", "im1", "im2"]
    assert out.report.skipped == {"corrupt or undecodable image": 1, "missing or unreadable file": 1}
    assert "bad.png" in out.report.examples["corrupt or undecodable image"][0]
    assert any("skipped 1 (corrupt" in line for line in out.report.lines())


def test_rgba_is_flattened_on_white():
    img = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    img.putpixel((1, 0), (10, 20, 30, 255))
    rgb = to_rgb(img)
    assert [rgb.getpixel((0, 0)), rgb.getpixel((1, 0))] == [(255, 255, 255), (10, 20, 30)]
    pal = Image.new("P", (1, 1), 0)
    pal.info["transparency"] = 0
    assert to_rgb(pal).getpixel((0, 0)) == (255, 255, 255)


def test_feature_table_roundtrip(tmp_path):
    t = FeatureTable(["a", "b"], np.arange(6).reshape(2, 3), {"backbone": "x"})
    u = FeatureTable.load(t.save(tmp_path / "t.npz"))
    assert u.ids == ["a", "b"] and u.meta == {"backbone": "x"}
    np.testing.assert_array_equal(u["b"], [3, 4, 5])
    assert u.subset(["b", "zz"]).ids == ["b"]
    with pytest.raises(Img2SongError, match="duplicate"):
        FeatureTable(["a", "a"], np.zeros((2, 1)))


def test_efficientnet_lite0_loads_offline(tmp_path, no_network):
    (p,) = [p for _, p in write_images(tmp_path / "img", 1)]
    bb = get_backbone("efficientnet-lite0")
    out = extract_features([("x", p)], bb, use_cache=False, progress=False)
    assert out.features.matrix.shape == (1, 1280) and out.logits.matrix.shape == (1, 1000)
    assert np.isfinite(out.features.matrix).all() and out.features.matrix.std() > 0
    with torch.no_grad():  # the pooled features feed the pretrained classifier: same logits as the full net
        full = bb.net(bb.preprocess(Image.open(p)).unsqueeze(0))
    np.testing.assert_allclose(out.logits.matrix, full.numpy(), rtol=1e-4, atol=1e-4)


def test_vgg19_needs_a_weights_file_and_never_downloads(tmp_path, no_network):
    with pytest.raises(Img2SongError, match="needs a weights file"):
        get_backbone("vgg19")
    with pytest.raises(Img2SongError, match="not found"):
        get_backbone("vgg19", weights=tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(Img2SongError, match="junk.pth: not a readable"):
        get_backbone("vgg19", weights=tmp_path / "junk.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(Img2SongError, match="other.pth: not a torchvision vgg19"):
        get_backbone("vgg19", weights=tmp_path / "other.pth")
    with pytest.raises(Img2SongError, match="unknown backbone"):
        get_backbone("resnet-1000")


def test_a_text_file_as_weights_is_a_clear_error_for_every_backbone(tmp_path):
    """torch's unpickler reads a text file (a passwd-like one, as the CLI fuzz tried) into an IndexError from its memo:
    each backbone names the file instead of an internal error."""
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    with pytest.raises(Exception) as raw:  # what the loaders must translate
        torch.load(text, map_location="cpu", weights_only=True)
    assert not isinstance(raw.value, Img2SongError)
    with pytest.raises(Img2SongError, match="passwd: not a readable"):
        get_backbone("vgg19", weights=text)
    with pytest.raises(Img2SongError, match="passwd: cannot load efficientnet-lite0 weights"):
        get_backbone("efficientnet-lite0", weights=text)


def test_state_dict_loading_path(tmp_path):
    src = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    torch.save(src.state_dict(), tmp_path / "w.pth")
    dst = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    load_state_dict_file(dst, tmp_path / "w.pth")
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))
    torch.save({"state_dict": src.state_dict()}, tmp_path / "wrapped.pth")
    load_state_dict_file(dst, tmp_path / "wrapped.pth")
    with pytest.raises(Img2SongError, match="w.pth: state dict does not match"):
        load_state_dict_file(torch.nn.Linear(3, 5), tmp_path / "w.pth")


# --- tags ---------------------------------------------------------------------------------------------
def test_shipped_hypernyms_cover_imagenet():
    rows = load_hypernyms()
    assert len(rows) == 1000
    wnid, levels = rows[504]
    assert wnid == "n03063599" and levels[0] == ("coffee mug",)
    flat = [w for lv in levels for w in lv]
    assert flat.index("mug") < flat.index("container") < flat.index("entity")
    assert "fish" in [w for lv in rows[0][1] for w in lv]  # tench -> ... -> fish


def test_tags_are_probability_mass_of_classes_reaching_a_keyword():
    vocab = ["杯", "鱼", "月", "animal"]
    tagger = ImageNetTagger(vocab, {"mug": ["杯"], "fish": ["鱼"], "moon": ["月"]})
    assert tagger.covered_keywords == ["杯", "鱼", "animal"]  # no ImageNet class is a moon
    logits = np.full((2, 1000), -20.0)
    logits[0, 504] = 20.0  # coffee mug
    logits[1, 0] = 20.0  # tench (a fish, an animal)
    p = tagger.tag_probs(logits)
    np.testing.assert_allclose(p, [[1, 0, 0, 0], [0, 1, 0, 1]], atol=1e-6)
    rnd = np.random.default_rng(0).normal(size=(3, 1000))
    probs = np.exp(rnd) / np.exp(rnd).sum(1, keepdims=True)
    fish = [c for c in range(1000) if "fish" in {w for lv in load_hypernyms()[c][1] for w in lv}]
    np.testing.assert_allclose(tagger.tag_probs(rnd)[:, 1], probs[:, fish].sum(1), rtol=1e-5)
    assert (tagger.tag_probs(rnd) <= 1 + 1e-6).all()
    assert top_keywords(np.array([0.2, 0.5, 0.0, 0.5]), vocab, 2) == ("鱼", "animal")
    assert top_keywords(np.array([0.01, 0.0, 0.0, 0.0]), vocab, 2) == ()


def test_build_hypernyms_parser(tmp_path):
    data = tmp_path / "data.noun"
    data.write_text(
        "  1 licence header line\n"
        "00000001 03 n 01 entity 0 000 | that which exists\n"
        "00000002 03 n 02 animal 0 beast 0 001 @ 00000001 n 0000 | a living being\n"
        "00000003 03 n 01 pet 0 001 @ 00000001 n 0000 | kept\n"
        "00000004 05 n 01 house_cat 0 003 @ 00000002 n 0000 @i 00000003 n 0000 ~ 00000001 n 0000 | a cat\n",
        encoding="utf-8")
    syn = parse_data_noun(data)
    assert syn["00000004"] == (["house cat"], ["00000002", "00000003"])  # '~' (hyponym) is not followed
    assert hypernym_levels("00000004", syn) == [["house cat"], ["animal", "beast", "pet"], ["entity"]]
    data.write_text("00000001 03 n zz entity\n", encoding="utf-8")
    with pytest.raises(Img2SongError, match="data.noun:1"):
        parse_data_noun(data)
