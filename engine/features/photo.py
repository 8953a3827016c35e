"""Uploaded photos -> CNN features and keyword tags with a run's backbone, in memory (no cache writes).

The same preprocessing and forward pass as the features stage (engine.features.extract), for bytes that come
from outside: each way a photo can be bad raises a PhotoError whose `kind` names it, before any pixel is decoded
when the header already tells (not an image, too many pixels).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.features.backbones import Backbone, get_backbone
from engine.features.decode import DEFAULT_MAX_PIXELS, PhotoError, decode_image
from graph.common.errors import Img2SongError

__all__ = ["DEFAULT_MAX_PIXELS", "PhotoEncoder", "PhotoError", "decode_photo"]


def decode_photo(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "upload") -> Image.Image:
    """Decode image bytes fully (so a truncated file fails here), refusing more than `max_pixels` pixels."""
    return decode_image(data, max_pixels, name)


class PhotoEncoder:
    """A run's backbone and its tagger (evaluation.stages.run_inputs.photo_tagger), loaded once: photos -> Query fields."""

    def __init__(self, features_meta: dict[str, Any],
                 tagger: Callable[[np.ndarray, np.ndarray | None], np.ndarray | None],
                 device: str = "cpu") -> None:
        if not features_meta.get("backbone"):
            raise Img2SongError("the run has no features yet: run `img2song features --run DIR` first")
        self.backbone: Backbone = get_backbone(features_meta["backbone"],
                                               weights=features_meta.get("weights") or None).to(device).eval()
        self.device, self.tagger = device, tagger

    @torch.no_grad()
    def encode(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Features [n, d] (float32), ImageNet logits [n, classes] (None without a classifier head) and the
        predicted keyword distribution [n, vocab] (None when the run has no tag source): a Query's fields."""
        x = torch.stack([self.backbone.preprocess(im) for im in images]).to(self.device)
        feats, logits = self.backbone(x)
        f = feats.float().cpu().numpy()
        lg = None if logits is None else logits.float().cpu().numpy()
        return f, lg, self.tagger(f, lg)
