"""Small RGB thumbnails of corpus images (for the HTML report's cards and the projector's sprite sheet)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from graph.common.errors import Img2SongError


def thumbnail(path: str | Path, size: int = 128, background: tuple[int, int, int] = (255, 255, 255),
              upscale: bool = False):
    """The image at `path` fitted into size x size (aspect kept; enlarged only with `upscale`), RGB, transparency
    on `background`. Raises Img2SongError naming the file when it cannot be read."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                out = Image.new("RGB", rgba.size, background)
                out.paste(rgba, mask=rgba.getchannel("A"))
            else:
                out = im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise Img2SongError(f"{path}: cannot read image ({e})") from None
    if upscale and max(out.size) < size:
        scale = size / max(out.size)
        out = out.resize((max(1, round(out.width * scale)), max(1, round(out.height * scale))))
    out.thumbnail((size, size))
    return out
