"""Batch CNN feature extraction: DataLoader over image files, cache by content hash, counted skips."""
from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from engine.features.backbones import DEFAULT_BACKBONE, Backbone, get_backbone
from engine.features.cache import FeatureCache, content_hash
from engine.features.table import FeatureTable
from graph.common.atomic import remove_stale_temps
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


class _ImageFiles(Dataset):
    """Item = read + hash the file; cache hit -> stored vector, miss -> decoded, preprocessed tensor."""

    def __init__(self, items: Sequence[tuple[str, Path]], backbone: Backbone, cache: FeatureCache, size: int):
        self.items, self.backbone, self.cache, self.size = list(items), backbone, cache, size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        image_id, path = self.items[i]
        out: dict[str, Any] = {"i": i, "id": image_id, "path": str(path)}
        try:
            data = _read_bytes(Path(path))
        except OSError as e:
            return out | {"status": "missing or unreadable file", "error": f"{path}: {e.strerror or e}"}
        key = content_hash(data)
        out["key"] = key
        vec = self.cache.get(key, self.size)
        if vec is not None:
            return out | {"status": "cached", "vec": vec}
        with warnings.catch_warnings(record=True) as caught:  # PIL's warnings are counted, never printed
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                with Image.open(io.BytesIO(data)) as im:
                    if im.width * im.height > (Image.MAX_IMAGE_PIXELS or float("inf")):
                        raise Image.DecompressionBombError(f"{im.width}x{im.height} pixels")
                    im.load()
                    x = self.backbone.preprocess(im)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                return out | {"status": OVER_PIXEL_LIMIT, "error": f"{path}: {e}"}
            except UnidentifiedImageError:
                return out | {"status": "corrupt or undecodable image",
                              "error": f"{path}: not a recognised image format"}
            except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as e:
                return out | {"status": "corrupt or undecodable image", "error": f"{path}: {clean_reason(e)}"}
        if caught:
            out["warnings"] = [f"{w.category.__name__}: {str(w.message)[:80]}" for w in caught]
        return out | {"status": "todo", "x": x}


def _collate(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return batch


def extract_features(items: Sequence[tuple[str, str | Path]], backbone: Backbone | str = DEFAULT_BACKBONE,
                     *, weights: str | Path | None = None, cache_dir: str | Path | None = None,
                     use_cache: bool = True, batch_size: int = 32, num_workers: int = 0, device: str = "cpu",
                     progress: bool = True) -> Extraction:
    """CNN features (+ ImageNet logits) for (image id, file) pairs; bad files are skipped and counted.
    The cache lives in `cache_dir` (default: graph.common.paths.cache_dir("features"))."""
    bb = get_backbone(backbone, weights=weights) if isinstance(backbone, str) else backbone
    bb = bb.to(device).eval()
    size = bb.feature_dim + bb.num_classes
    cache = FeatureCache(cache_dir, bb.cache_tag)
    if use_cache:
        remove_stale_temps(cache.dir)
    ds = _ImageFiles([(i, Path(p)) for i, p in items], bb, cache if use_cache else _NoCache(), size)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate)
    report = ExtractReport(total=len(ds))
    rows: dict[int, np.ndarray] = {}
    bar = tqdm(total=len(ds), desc=f"features ({bb.name})", unit="img", disable=not progress)
    for batch in loader:
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
            x = torch.stack([b["x"] for b in todo]).to(device)
            feats, logits = bb(x)
            full = feats if logits is None else torch.cat([feats, logits], 1)
            full = full.float().cpu().numpy()
            for b, vec in zip(todo, full):
                rows[b["i"]] = vec
                if use_cache:
                    cache.put(b["key"], vec)
                report.computed += 1
        bar.update(len(batch))
    bar.close()
    order = sorted(rows)
    ids = [ds.items[i][0] for i in order]
    mat = np.stack([rows[i] for i in order]) if order else np.zeros((0, size), np.float32)
    meta = {"backbone": bb.name, "cache_tag": bb.cache_tag,
            "weights": str(getattr(bb, "weights_path", "")), "feature_dim": bb.feature_dim}
    feats_t = FeatureTable(ids, mat[:, :bb.feature_dim], meta | {"kind": "features"})
    logits_t = FeatureTable(ids, mat[:, bb.feature_dim:], meta | {"kind": "imagenet_logits"}) if bb.num_classes else None
    return Extraction(feats_t, logits_t, report)


class _NoCache(FeatureCache):
    def __init__(self) -> None:
        super().__init__("/nonexistent", "none")

    def get(self, key: str, size: int | None = None) -> np.ndarray | None:
        return None
