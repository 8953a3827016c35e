"""The one place corpus file paths are resolved and confined, and image files probed without decoding them.

A path named in a corpus file must be relative and resolve (symlinks included) inside the corpus directory;
anything else is a CorpusError naming the file, line and field. Images are opened lazily (header only) under
PIL's pixel limit, so a decompression bomb is refused before any pixel buffer is allocated, and PIL's warnings
are captured (returned to the caller to count), never printed.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from graph.common.errors import CorpusError, Img2SongError
from graph.common.images import SAFE_FORMATS

OVER_PIXEL_LIMIT = "image over the pixel limit (PIL MAX_IMAGE_PIXELS)"


def resolve_corpus_file(root: str | Path, rel: str, file: str | Path, line: int | None, field_name: str) -> Path:
    """`root/rel` resolved; an error unless `rel` is relative and the result lies inside `root`."""
    if not isinstance(rel, str) or not rel.strip():
        raise CorpusError(file, line, field_name, "must be a non-empty relative path")
    if "\x00" in rel:
        raise CorpusError(file, line, field_name, "path holds a NUL byte")
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).is_absolute() or PureWindowsPath(rel).drive:
        raise CorpusError(file, line, field_name, f"must be relative to the corpus directory, got {rel!r}")
    base = Path(root).resolve()
    try:
        target = (base / rel).resolve()
    except (OSError, RuntimeError) as e:  # symlink loops, names too long
        raise CorpusError(file, line, field_name, f"path {rel!r} cannot be resolved "
                          f"({getattr(e, 'strerror', None) or e})") from None  # RuntimeError has no strerror
    if not target.is_relative_to(base):
        raise CorpusError(file, line, field_name, f"path {rel!r} leads outside the corpus directory")
    return target


@dataclass
class ImageProbe:
    """What opening an image's header found: `skip` (a reason) when it must not be used; warnings seen."""

    skip: str | None = None
    warnings: list[str] = field(default_factory=list)


def probe_image(path: Path, file: str | Path, line: int | None, field_name: str = "file") -> ImageProbe:
    """Open the header and verify the file without decoding pixels; errors name the corpus file and line."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if not path.is_file():
        raise CorpusError(file, line, field_name, f"image file not found: {path}")
    probe = ImageProbe()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with PILImage.open(path, formats=SAFE_FORMATS) as im:
                if im.width * im.height > (PILImage.MAX_IMAGE_PIXELS or float("inf")):
                    probe.skip = OVER_PIXEL_LIMIT
                else:
                    im.verify()
        except PILImage.DecompressionBombError:
            probe.skip = OVER_PIXEL_LIMIT
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
            msg = (f"not an image in a supported format ({', '.join(SAFE_FORMATS)})"
                   if isinstance(e, UnidentifiedImageError) else str(e))
            raise CorpusError(file, line, field_name, f"image file is unreadable: {path} ({msg})") from None
    for w in caught:
        if issubclass(w.category, PILImage.DecompressionBombWarning):
            probe.skip = OVER_PIXEL_LIMIT
        else:
            probe.warnings.append(f"{w.category.__name__}: {str(w.message)[:80]}")
    return probe


# corpus files whose content the graph was built from: fingerprinted at build-graph, checked whenever a stage
# finds the run's corpus (a song deleted or edited since would otherwise surface as a KeyError or a silent 0.0)
FINGERPRINTED_FILES = ("songs.jsonl", "images.jsonl", "keywords.txt", "lexicon.tsv")
_HASHES: dict[tuple, str] = {}  # (path, size, mtime_ns, ctime_ns, inode) -> sha256: each file hashed once a process


def corpus_fingerprint(corpus: str | Path) -> dict[str, str | None]:
    """sha256 of each fingerprinted corpus file (None when absent), by content, not by modification time."""
    return {name: _sha256(Path(corpus) / name) for name in FINGERPRINTED_FILES}


def _sha256(path: Path) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise Img2SongError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not path.is_file():
        return None  # a FIFO or folder in place of a corpus file: the corpus reader says what it is
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _HASHES:
        h = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except OSError as e:
            raise Img2SongError(f"{path}: cannot be read ({e.strerror or e})") from None
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]
