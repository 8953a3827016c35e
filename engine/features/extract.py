"""Batch CNN feature extraction: decoder threads feed the forward, cache by content hash, counted skips."""
from __future__ import annotations

import contextlib
import threading
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from engine.features.backbones import DEFAULT_BACKBONE, Backbone, get_backbone
from engine.features.cache import FeatureCache, content_hash
from engine.features.decode import PhotoError, decode_image, layout_key, open_header
from engine.features.runtime import Forward, cpu_cores
from engine.features.table import FeatureTable
from graph.common.atomic import remove_stale_temps
from graph.common.errors import Img2SongError
from graph.common.readers import clean_reason
from graph.common.skips import SkipLog
from graph.corpus_files import OVER_PIXEL_LIMIT


@dataclass
class ExtractReport(SkipLog):
    """What happened to every image: computed, read from cache, or skipped with a reason (never silent)."""

    total: int = 0
    computed: int = 0
    cached: int = 0

    def lines(self) -> list[str]:
        return [f"{self.total} images: {self.computed} computed, {self.cached} from cache", *self.skip_lines("; ")]

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "computed": self.computed, "cached": self.cached,
                "skipped": dict(self.skipped), "notes": dict(self.notes), "examples": {k: list(v) for k, v in self.examples.items()}}


@dataclass
class Extraction:
    features: FeatureTable  # image id -> pooled CNN features
    logits: FeatureTable | None  # image id -> ImageNet-1k logits (None when the backbone has no class head)
    report: ExtractReport


def _read_bytes(path: Path) -> bytes:
    """The one place image files are read (each file once per extraction run)."""
    with open(path, "rb") as fh:
        return fh.read()


class _Recorder(threading.local):
    """Warnings of the image a thread is decoding (warnings' global state is set once, by the main thread)."""

    caught: list[str] | None = None


_RECORDER = _Recorder()


@contextlib.contextmanager
def _pil_warnings_counted() -> Iterator[None]:
    """For the whole extraction: PIL warnings go to the decoding thread's record; a pixel bomb is an error;
    other threads' warnings go where they went before."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        if _RECORDER.caught is not None:  # PIL's warnings are counted, never printed
            _RECORDER.caught.append(f"{category.__name__}: {str(message)[:80]}")
        else:
            previous(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.showwarning = show
        yield


class _Loader:
    """Item i -> read + hash the file; cache hit -> stored vector, miss -> decoded, preprocessed tensor."""

    def __init__(self, items: Sequence[tuple[str, Path]], preprocess: Any, cache: FeatureCache, size: int):
        self.items, self.preprocess, self.cache, self.size = list(items), preprocess, cache, size

    def __len__(self) -> int:
        return len(self.items)

    def __call__(self, i: int) -> dict[str, Any]:
        image_id, path = self.items[i]
        out: dict[str, Any] = {"i": i, "id": image_id, "path": str(path)}
        try:
            data = _read_bytes(Path(path))
        except OSError as e:
            return out | {"status": "missing or unreadable file", "error": f"{path}: {e.strerror or e}"}
        _RECORDER.caught = caught = []
        try:
            try:  # header only: which layout steps change this image's pixels is part of its cache key
                im = open_header(data, Image.MAX_IMAGE_PIXELS or 2**62, str(path))
            except PhotoError as e:
                return out | self._skip(e)
            key = content_hash(data) + layout_key(im)
            out["key"] = key
            vec = self.cache.get(key, self.size)
            if vec is not None:
                im.close()
                return out | {"status": "cached", "vec": vec}
            with im:
                x = self.preprocess(decode_image(data, Image.MAX_IMAGE_PIXELS or 2**62, str(path), im))
        except PhotoError as e:
            return out | self._skip(e)
        except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as e:
            return out | {"status": "corrupt or undecodable image", "error": f"{path}: {clean_reason(e)}"}
        finally:
            _RECORDER.caught = None
        if caught:
            out["warnings"] = caught
        return out | {"status": "todo", "x": x}

    @staticmethod
    def _skip(e: PhotoError) -> dict[str, str]:
        """A decode failure as a counted skip: over the pixel limit, or corrupt (the message names the file)."""
        status = OVER_PIXEL_LIMIT if e.kind == "decompression_bomb" else "corrupt or undecodable image"
        return {"status": status, "error": str(e)}


def loaded_batches(load: _Loader, batch_size: int, workers: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive batches of loaded items, in order; with workers, the next two batches load during a forward."""
    n = len(load)
    if workers <= 0:  # sequential: today's reference path
        for lo in range(0, n, batch_size):
            yield [load(i) for i in range(lo, min(n, lo + batch_size))]
        return
    ahead = 2 * batch_size  # bounded: at most this many items decoded or decoding beyond the current batch
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        pending: deque[Future] = deque()
        nxt = 0
        try:
            for lo in range(0, n, batch_size):
                hi = min(n, lo + batch_size)
                while nxt < min(n, hi + ahead):
                    pending.append(pool.submit(load, nxt))
                    nxt += 1
                yield [pending.popleft().result() for _ in range(lo, hi)]
        finally:
            for f in pending:
                f.cancel()


def default_decode_workers(forward: Forward) -> int:
    """Decoder threads sized with the forward's: one per core beyond those the forward uses, at least one."""
    return max(1, cpu_cores() - forward.threads) if forward.device.type == "cpu" else min(8, cpu_cores())


def extract_features(items: Sequence[tuple[str, str | Path]], backbone: Backbone | str = DEFAULT_BACKBONE,
                     *, weights: str | Path | None = None, cache_dir: str | Path | None = None,
                     use_cache: bool = True, batch_size: int = 32, num_workers: int | None = None,
                     device: str = "cpu", runtime: str | Forward = "auto", threads: int | None = None,
                     precision: str = "fp32", progress: bool = True) -> Extraction:
    """CNN features (+ ImageNet logits) for (image id, file) pairs; bad files are skipped and counted.

    Files are read, hashed and decoded by `num_workers` threads (None: sized with the forward's `threads`;
    0: sequentially in this thread) while the forward runs on `runtime` (engine.features.runtime); cache
    writes go to a background thread. The cache lives in `cache_dir` (default:
    graph.common.paths.cache_dir("features")), in a folder named by the backbone and, when its rounding differs
    from eager PyTorch on a CPU, the runtime.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise Img2SongError(f"batch size must be a whole number >= 1, got {batch_size!r}")
    if isinstance(runtime, Forward):
        fwd = runtime
    else:
        bb = get_backbone(backbone, weights=weights) if isinstance(backbone, str) else backbone
        fwd = Forward(bb, runtime, device, threads=threads, precision=precision)
    bb = fwd.backbone
    size = bb.feature_dim + bb.num_classes
    cache = FeatureCache(cache_dir, fwd.cache_tag)
    if use_cache:
        remove_stale_temps(cache.dir)
    load = _Loader([(i, Path(p)) for i, p in items], bb.preprocess, cache if use_cache else _NoCache(), size)
    workers = default_decode_workers(fwd) if num_workers is None else num_workers
    report = ExtractReport(total=len(load))
    rows: dict[int, np.ndarray] = {}
    bar = tqdm(total=len(load), desc=f"features ({bb.name}, {fwd.runtime})", unit="img", disable=not progress)
    writes: list[Future] = []
    with _pil_warnings_counted(), torch_threads_for(fwd), ThreadPoolExecutor(1, thread_name_prefix="cache") as writer:
        for batch in loaded_batches(load, batch_size, workers):
            todo = [b for b in batch if b["status"] == "todo"]
            for b in batch:
                if b["status"] == "cached":
                    rows[b["i"]] = b["vec"]
                    report.cached += 1
                elif b["status"] != "todo":
                    report.skip(b["status"], b["error"])
                for w in b.get("warnings", ()):
                    report.note(f"image decoded with a PIL warning ({w})", b["path"])
            if todo:
                feats, logits = fwd(torch.stack([b["x"] for b in todo]))
                full = feats if logits is None else np.concatenate([feats, logits], 1)
                full = np.asarray(full, np.float32)
                for b, vec in zip(todo, full):
                    rows[b["i"]] = vec
                    report.computed += 1
                if use_cache:
                    writes.append(writer.submit(_put_all, cache, [(b["key"], rows[b["i"]]) for b in todo]))
            bar.update(len(batch))
        for f in writes:
            f.result()  # a failed cache write fails the run (after the forward work is done)
    bar.close()
    order = sorted(rows)
    ids = [load.items[i][0] for i in order]
    mat = np.stack([rows[i] for i in order]) if order else np.zeros((0, size), np.float32)
    meta = {"backbone": bb.name, "cache_tag": fwd.cache_tag, "runtime": fwd.runtime, "numerics": fwd.numerics,
            "weights": str(getattr(bb, "weights_path", "")), "feature_dim": bb.feature_dim}
    feats_t = FeatureTable(ids, mat[:, :bb.feature_dim], meta | {"kind": "features"})
    logits_t = FeatureTable(ids, mat[:, bb.feature_dim:], meta | {"kind": "imagenet_logits"}) if bb.num_classes else None
    return Extraction(feats_t, logits_t, report)


def _put_all(cache: FeatureCache, entries: list[tuple[str, np.ndarray]]) -> None:
    for key, vec in entries:
        cache.put(key, vec)


@contextlib.contextmanager
def torch_threads_for(fwd: Forward) -> Iterator[None]:
    """torch's intra-op threads: the forward's count when torch runs it on the CPU, else one (torch idles)."""
    before = torch.get_num_threads()
    torch_runs_it = fwd.device.type == "cpu" and fwd.runtime in ("eager", "channels-last", "compile")
    torch.set_num_threads(fwd.threads if torch_runs_it else 1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _NoCache(FeatureCache):
    def __init__(self) -> None:
        super().__init__("/nonexistent", "none")

    def get(self, key: str, size: int | None = None) -> np.ndarray | None:
        return None
