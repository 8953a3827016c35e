"""The one decoder of untrusted image bytes, shared by the features stage and the photo service.

Why one: a corpus file and an upload must become the same pixels (safe formats only, the pixel limit checked on
the header before anything is decoded, a truncated file an error, EXIF orientation applied), and the feature
cache key must say which of these layout steps changed the pixels (`layout_key`).
"""
from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from engine.features.backbones import needs_box_resize
from graph.common.errors import Img2SongError
from graph.common.images import SAFE_FORMATS
from graph.common.readers import clean_reason

DEFAULT_MAX_PIXELS = 50_000_000  # width x height of an upload; a larger header is refused before decoding
EXIF_ORIENTATION = 0x0112  # the TIFF/EXIF tag; 1 is upright, 2..8 are mirrorings and rotations


class PhotoError(Img2SongError):
    """A photo that cannot be used; kind: not_an_image | truncated_image | decompression_bomb."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def open_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "upload") -> Image.Image:
    """Open image bytes lazily (header only) in a safe format, refusing more than `max_pixels` pixels."""
    if not data:
        raise PhotoError("not_an_image", f"{name}: empty file")
    try:
        im = Image.open(io.BytesIO(data), formats=SAFE_FORMATS)
    except UnidentifiedImageError:
        raise PhotoError("not_an_image", f"{name}: not a recognised image format (supported: "
                                         f"{', '.join(SAFE_FORMATS)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PhotoError("decompression_bomb", f"{name}: {clean_reason(e)}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise PhotoError("not_an_image", f"{name}: unreadable image header ({clean_reason(e)})") from None
    w, h = im.size
    if w * h > max_pixels:
        im.close()
        raise PhotoError("decompression_bomb", f"{name}: {w} x {h} = {w * h} pixels, over the limit of "
                                               f"{max_pixels} (a decompression bomb?)")
    return im


def orientation(im: Image.Image) -> int:
    """The image's EXIF orientation (1 when it has none or an invalid one), from what the header holds: a PNG's
    eXIf chunk counts when it comes before the pixel data (PIL would decode the whole file to look after it)."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        value = im.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError, IndexError):
        return 1  # an unreadable EXIF block: the pixels as stored
    return value if isinstance(value, int) and 2 <= value <= 8 else 1


def layout_key(im: Image.Image) -> str:
    """'' for an image whose pixels go to the preprocessing as stored; else what changes them ('-exif6',
    '-box'): a suffix of its feature-cache key, so a cache filled before these steps existed is never reused."""
    o = orientation(im)
    w, h = im.size
    if o in (5, 6, 7, 8):
        w, h = h, w
    return (f"-exif{o}" if o != 1 else "") + ("-box" if needs_box_resize(w, h) else "")


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "upload",
                 im: Image.Image | None = None) -> Image.Image:
    """Decode image bytes fully (so a truncated file fails here), upright by its EXIF orientation; `im` is the
    same bytes' open_header() when the caller already has it."""
    if im is None:
        im = open_header(data, max_pixels, name)
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PhotoError("decompression_bomb", f"{name}: {clean_reason(e)}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise PhotoError("truncated_image", f"{name}: truncated or corrupt image data ({clean_reason(e)})") from None
    if orientation(im) != 1:
        try:
            im = ImageOps.exif_transpose(im)
        except (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError) as e:
            raise PhotoError("truncated_image", f"{name}: cannot apply its EXIF orientation ({clean_reason(e)})") from None
    return im
