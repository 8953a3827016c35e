"""The CNN runtimes and the threaded feature pipeline: parity with eager PyTorch, same output as the sequential path."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from engine.features import extract_features, get_backbone
from engine.features.runtime import Forward, _importable, resolve_runtime, runtime_of_run
from evaluation.app.cli import main
from graph.common.errors import Img2SongError
from graph.corpus import load_corpus
from tests.test_features import MeanColor, write_images  # noqa: F401 (registers test-mean-color)

STARTER = "data/starter"
PARITY = 1e-4  # measured ~1e-5 for every runtime; the product's bar is 1e-3


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: two spin on barriers for seconds when the 2-core machine is shared (load 10+)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lite0():
    return get_backbone("efficientnet-lite0")


@pytest.fixture(scope="module")
def starter_batch(lite0):
    corpus = load_corpus(STARTER, check_files=False)
    paths = [corpus.image_path(img) for img in corpus.images[:6]]
    return torch.stack([lite0.preprocess(Image.open(p)) for p in paths])


@pytest.mark.parametrize("runtime", ["channels-last", "onnxruntime", "openvino"])
def test_runtime_matches_eager_on_real_photos(runtime, lite0, starter_batch):
    if runtime in ("onnxruntime", "openvino") and not _importable(runtime):
        pytest.skip(f"{runtime} not installed")
    before = [t.clone() for t in lite0(starter_batch)]
    fwd = Forward(lite0, runtime, threads=1)
    feats, logits = fwd(starter_batch)
    ref_feats, ref_logits = lite0(starter_batch)  # after building the runtime: the export must not touch the weights
    np.testing.assert_array_equal(ref_logits.numpy(), before[1].numpy())
    assert feats.shape == (6, 1280) and logits.shape == (6, 1000) and feats.dtype == np.float32
    assert np.abs(feats - ref_feats.numpy()).max() <= PARITY
    assert np.abs(logits - ref_logits.numpy()).max() <= PARITY
    # a batch of one and a batch of six give each image the same answer (dynamic batch in the exported graph)
    one, _ = fwd(starter_batch[2:3])
    assert np.abs(one[0] - feats[2]).max() <= PARITY
    assert fwd.cache_tag == f"efficientnet-lite0+{runtime}" and fwd.numerics == runtime


def test_eager_keeps_todays_cache_folder_and_auto_picks_a_fast_runtime_only_for_exportable_backbones(lite0):
    mean = get_backbone("test-mean-color")
    assert Forward(mean, "eager").cache_tag == "test-mean-color"
    assert Forward(mean, "channels-last").cache_tag == "test-mean-color+channels-last"
    assert resolve_runtime("auto", mean) == "eager"  # not exportable: eager, today's numbers
    assert resolve_runtime("auto", lite0) in ("onnxruntime", "channels-last")
    assert resolve_runtime("auto", lite0, "cuda") == "channels-last"
    with pytest.raises(Img2SongError, match="CPU only"):
        resolve_runtime("openvino", lite0, "cuda")
    with pytest.raises(Img2SongError, match="not exported"):
        resolve_runtime("onnxruntime", mean)
    with pytest.raises(Img2SongError, match="unknown runtime"):
        resolve_runtime("tensorrt", lite0)
    with pytest.raises(Img2SongError, match="CUDA devices only"):
        Forward(mean, "eager", precision="bf16")
    assert runtime_of_run({"runtime": "eager", "numerics": ""}) == "eager"
    assert runtime_of_run({"runtime": "channels-last", "numerics": "channels-last-cuda-bf16"}) == "auto"
    assert runtime_of_run({}) == "auto"


def test_threaded_pipeline_equals_the_sequential_path(tmp_path):
    items = write_images(tmp_path / "img", 11)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    items.insert(3, ("bad", tmp_path / "bad.png"))
    items.insert(7, ("gone", tmp_path / "missing.jpg"))
    items.append(("again", items[0][1]))  # a duplicate file: computed twice in one cold run, same vector
    seq = extract_features(items, "test-mean-color", use_cache=False, batch_size=3, num_workers=0, progress=False)
    for workers in (1, 2, 4):
        par = extract_features(items, "test-mean-color", use_cache=False, batch_size=3, num_workers=workers,
                               progress=False)
        assert par.features.ids == seq.features.ids == [i for i, _ in items if i not in ("bad", "gone")]
        np.testing.assert_array_equal(par.features.matrix, seq.features.matrix)
        np.testing.assert_array_equal(par.logits.matrix, seq.logits.matrix)
        assert par.report.to_dict() == seq.report.to_dict()
        assert par.report.skipped == {"corrupt or undecodable image": 1, "missing or unreadable file": 1}


def test_cache_is_written_by_the_background_writer_and_read_back(tmp_path):
    items = write_images(tmp_path / "img", 7)
    first = extract_features(items, "test-mean-color", cache_dir=tmp_path / "c", batch_size=2, num_workers=2,
                             progress=False)
    assert len(list((tmp_path / "c" / "test-mean-color").glob("*.npy"))) == 7  # all written when the call returns
    second = extract_features(items, "test-mean-color", cache_dir=tmp_path / "c", batch_size=2, num_workers=2,
                              progress=False)
    assert (second.report.cached, second.report.computed) == (7, 0)
    np.testing.assert_array_equal(first.features.matrix, second.features.matrix)
    # another runtime's rounding never mixes with eager's entries
    third = extract_features(items, "test-mean-color", cache_dir=tmp_path / "c", runtime="channels-last",
                             num_workers=2, progress=False)
    assert third.report.computed == 7 and (tmp_path / "c" / "test-mean-color+channels-last").is_dir()


class WarnsOnDecode(MeanColor):
    """test-mean-color whose preprocessing warns, as PIL does for odd files (EXIF, palettes)."""

    def preprocess(self, img):
        warnings.warn(f"odd image {img.size}", UserWarning, stacklevel=1)
        return super().preprocess(img)


def test_warnings_from_decoder_threads_are_counted_per_image_and_filters_restored(tmp_path):
    items = write_images(tmp_path / "img", 6)
    before = warnings.filters[:]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning that escapes the extraction fails the test
        out = extract_features(items, WarnsOnDecode(), use_cache=False, num_workers=3, batch_size=2,
                               progress=False)
    assert out.report.computed == 6 and warnings.filters == before
    noted = {k: v for k, v in out.report.notes.items() if "odd image" in k}
    assert sum(noted.values()) == 6  # one per image, each with its own size: none lost, none doubled
    assert len(noted) == 6


def test_bench_features_command_prints_every_runtime(capsys, tmp_path, tiny_corpus_dir):
    code = main(["bench", "features", "--corpus", str(tiny_corpus_dir), "--images", "3", "--rounds", "1",
                 "--batch-size", "2", "--threads", "1", "--runtime", "eager", "--runtime", "onnxruntime",
                 "--json", str(tmp_path / "b.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "today (eager cpu, sequential decode)" in out and "load average before" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert " ok " in lines["eager"] and " ok " in lines["onnxruntime"] and "fastest passing:" in out
    doc = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    assert doc["images"] == 3 and doc["runtimes"]["eager"]["max_abs_diff"] == 0.0
    assert 0 < doc["runtimes"]["onnxruntime"]["max_abs_diff"] <= PARITY and doc["today"]["e2e_ips"] > 0
