"""Photo or drawing: what a starter image is, so that the evaluation can report real photos apart.

Full-frame photos (desktop backgrounds, puzzle photos, scikit-image) are photos by source. A tux paint stamp is a
PNG cut-out: a photographed object on a transparent background, or a drawing. A photograph has many distinct
colours for its area (sensor noise, shading); a drawing has flat fills and a few anti-aliasing ramps. The rule:
distinct colours (each channel quantised to 64 levels) per opaque pixel of the 256-px render >= PHOTO_COLOUR_RATIO.
Checked by eye on 24-stamp contact sheets (graph/starter/README.md): above 0.15 all stamps but a bicycle-bell icon
were photo cut-outs; between 0.05 and 0.15 both kinds mix, so they stay drawings (the rule errs towards fewer
photos, never towards calling a drawing a photo).
"""
from __future__ import annotations

from pathlib import Path

PHOTO_COLOUR_RATIO = 0.15
FULL_FRAME = ("photo", "skimage")  # Candidate.kind values that are photos by source


def colour_ratio(path: str | Path, size: int = 256) -> float:
    """Distinct quantised colours / opaque pixels of the image scaled to <= size px (0 when nearly transparent)."""
    import numpy as np
    from PIL import Image

    im = Image.open(path).convert("RGBA")
    im.thumbnail((size, size))
    a = np.asarray(im)
    px = a[a[..., 3] > 200][:, :3]
    if len(px) < 100:
        return 0.0
    return len(np.unique(px // 4, axis=0)) / len(px)


def image_kind(candidate_kind: str, path: str | Path) -> str:
    """'photo' or 'drawing' for a starter candidate (Candidate.kind, its source file)."""
    if candidate_kind in FULL_FRAME:
        return "photo"
    if candidate_kind == "bitmap":
        return "photo" if colour_ratio(path) >= PHOTO_COLOUR_RATIO else "drawing"
    return "drawing"  # svg
