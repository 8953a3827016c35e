"""Uploaded photos -> CNN features and keyword tags with a run's backbone, in memory (no cache writes).

The same preprocessing and forward pass as the features stage (engine.features.extract), for bytes that come
from outside: each way a photo can be bad raises a PhotoError whose `kind` names it, before any pixel is decoded
when the header already tells (not an image, too many pixels).
"""
from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from engine.features.backbones import Backbone, get_backbone
from graph.common.errors import Img2SongError
from graph.common.images import SAFE_FORMATS

DEFAULT_MAX_PIXELS = 50_000_000  # width x height of an upload; a larger header is refused before decoding


class PhotoError(Img2SongError):
    """A photo that cannot be used; kind: not_an_image | truncated_image | decompression_bomb."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def decode_photo(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "upload") -> Image.Image:
    """Decode image bytes fully (so a truncated file fails here), refusing more than `max_pixels` pixels."""
    if not data:
        raise PhotoError("not_an_image", f"{name}: empty file")
    try:
        im = Image.open(io.BytesIO(data), formats=SAFE_FORMATS)
    except UnidentifiedImageError:
        raise PhotoError("not_an_image", f"{name}: not an image in a supported format "
                                         f"({', '.join(SAFE_FORMATS)})") from None
    except Image.DecompressionBombError as e:
        raise PhotoError("decompression_bomb", f"{name}: {e}") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise PhotoError("not_an_image", f"{name}: unreadable image header ({e})") from None
    w, h = im.size
    if w * h > max_pixels:
        raise PhotoError("decompression_bomb", f"{name}: {w} x {h} = {w * h} pixels, over the limit of "
                                               f"{max_pixels} (a decompression bomb?)")
    try:
        im.load()
    except Image.DecompressionBombError as e:
        raise PhotoError("decompression_bomb", f"{name}: {e}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise PhotoError("truncated_image", f"{name}: truncated or corrupt image data ({e})") from None
    return im


class PhotoEncoder:
    """A run's backbone and its tagger (evaluation.run_inputs.photo_tagger), loaded once: photos -> Query fields."""

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
