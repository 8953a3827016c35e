"""Photo or drawing: what a starter image is, so that the evaluation can report real photos apart.

Full-frame photos (desktop backgrounds, puzzle photos, scikit-image) are photos by source. A tux paint stamp is a
PNG cut-out: a photographed object on a transparent background, or a drawing. A drawing's fills are flat, so many of
its opaque pixels equal their four neighbours (within 1 level a channel); a photograph's sensor noise and shading
leave almost none. The rule: a stamp is a photo cut-out when the share of its interior opaque pixels that are flat
(256-px render) is < PHOTO_FLAT_SHARE; a stamp with fewer than 100 interior pixels is too small to tell and stays a
drawing. The previous rule (distinct colours per opaque pixel >= 0.15, `colour_ratio`) is kept as a measured
feature only: small stamps' anti-aliased edges give cartoons many colours for their area. Both are measured on the
hand-labelled stamps of tests/fixtures/stamp_kinds.tsv (tests/test_starter_build.py asserts the precision).
"""
from __future__ import annotations

from pathlib import Path

PHOTO_FLAT_SHARE = 0.05  # below this share of flat interior pixels a stamp is a photo cut-out
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


def flat_share(path: str | Path, size: int = 256) -> float:
    """Share of interior opaque pixels (all four neighbours opaque) equal to all four neighbours within 1 level a
    channel, in the image scaled to <= size px (1.0 when fewer than 100 such pixels: too small to tell)."""
    import numpy as np
    from PIL import Image

    im = Image.open(path).convert("RGBA")
    im.thumbnail((size, size))
    a = np.asarray(im).astype(np.int16)
    opaque = a[..., 3] > 250
    rgb, centre = a[..., :3], a[1:-1, 1:-1, :3]
    inner = opaque[1:-1, 1:-1].copy()
    same = np.ones(inner.shape, bool)
    for sl in ((slice(None, -2), slice(1, -1)), (slice(2, None), slice(1, -1)),
               (slice(1, -1), slice(None, -2)), (slice(1, -1), slice(2, None))):
        inner &= opaque[sl]
        same &= np.abs(rgb[sl] - centre).max(-1) <= 1
    n = int(inner.sum())
    return float((same & inner).sum() / n) if n >= 100 else 1.0


def kind_of_stamp(flat: float) -> str:
    """'photo' or 'drawing' from a stamp's flat share: no flat fill is a photograph."""
    return "photo" if flat < PHOTO_FLAT_SHARE else "drawing"


def stamp_kind(path: str | Path) -> str:
    """'photo' or 'drawing' for a tux paint PNG stamp (kind_of_stamp of its flat share)."""
    return kind_of_stamp(flat_share(path))


def image_kind(candidate_kind: str, path: str | Path) -> str:
    """'photo' or 'drawing' for a starter candidate (Candidate.kind, its source file)."""
    if candidate_kind in FULL_FRAME:
        return "photo"
    if candidate_kind == "bitmap":
        return stamp_kind(path)
    return "drawing"  # svg
