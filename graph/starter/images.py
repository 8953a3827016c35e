"""Image candidates from Debian tuxpaint stamps, Debian openclipart and scikit-image photos, and their rendering."""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from graph.common.atomic import atomic_path
from graph.keywords import lemmatize_en, stopwords

TUX_VERSION = "tuxpaint-stamps-default 2022.06.04-1"
OCA_VERSION = "openclipart-svg 1:0.18+dfsg-19"
SKI_LICENCE = "public domain / CC0 (per skimage.data docstrings)"
# words that say how a picture was made or filed, not what it shows
TAG_BLOCK = frozenset(
    [
        "cartoon", "toy", "plastic", "symbol", "unsorted", "clip", "art", "clipart", "svg",
        "openclipart", "remix", "image", "picture", "drawing", "icon", "public", "domain", "outline",
        "outlined", "filled", "simple", "color", "colour", "black", "white", "grey", "gray",
        "line", "stamp", "photo", "illustration", "graphic", "png", "vector", "design", "element",
        "misc", "special", "logo", "sign", "eps", "object", "item", "stuff", "thing",
        "external", "source",
    ]
)
_WORD = re.compile(r"[a-z]+")
_NS = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "dc": "http://purl.org/dc/elements/1.1/",
       "cc": "http://web.resource.org/cc/"}
# Hand-written tags of the bundled scikit-image photos (what each photo shows).
SKIMAGE_PHOTOS = {
    "astronaut": ("astronaut", "person", "man", "space", "flag"),
    "chelsea": ("cat", "animal"),
    "coffee": ("coffee", "cup", "drink"),
    "rocket": ("rocket", "sky", "cloud", "smoke"),
    "moon": ("moon", "stone"),
    "grass": ("grass", "plant"),
    "camera": ("man", "person", "camera"),
    "coins": ("coin", "money"),
    "hubble_deep_field": ("star", "sky", "night", "galaxy"),
    "brick": ("brick", "wall"),
    "gravel": ("stone", "gravel", "rock"),
    "horse": ("horse", "animal"),
}


@dataclass
class Candidate:
    key: str  # stable id
    source: str
    licence: str
    path: str  # raw file, or the skimage.data function name
    kind: str  # "bitmap" | "svg" | "skimage" | "photo"
    tags: tuple[str, ...]
    caption: str
    language: str


def tag_words(text: str) -> list[str]:
    """English words of a title/tag/folder name as lemmas, without stopwords and filing words."""
    stop = stopwords("en")
    out: list[str] = []
    for w in _WORD.findall(text.lower().replace("_", " ").replace("-", " ")):
        lemma = lemmatize_en(w)
        if len(lemma) > 2 and w not in stop and lemma not in TAG_BLOCK and lemma not in out:
            out.append(lemma)
    return out


def tag_phrases(text: str) -> list[str]:
    """Two-word phrases of adjacent kept words ('Plum Blossoms' -> 'plum blossom'), for glosses like 梅花's; the
    build keeps only those the lexicon translates."""
    words = [lemmatize_en(w) for w in _WORD.findall(text.lower().replace("_", " ").replace("-", " "))]
    stop = stopwords("en")
    return [f"{a} {b}" for a, b in zip(words, words[1:]) if a not in stop and b not in stop
            and a not in TAG_BLOCK and b not in TAG_BLOCK and len(a) > 2 and len(b) > 2]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def tuxpaint_candidates(raw: Path) -> list[Candidate]:
    """Stamps with a caption file: tags = folder path + file name words, caption = zh_CN line (else English)."""
    root = raw / "tuxpaint-stamps-default/usr/share/tuxpaint/stamps"
    out = []
    for txt in sorted(root.rglob("*.txt")):
        img = next((txt.with_suffix(s) for s in (".png", ".svg") if txt.with_suffix(s).is_file()), None)
        if img is None:
            continue
        lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
        en = lines[0].strip() if lines else ""
        zh = next((ln.split("=", 1)[1].strip() for ln in lines if ln.startswith("zh_CN.utf8=")), "")
        rel = txt.relative_to(root).with_suffix("")
        if rel.parts[0] == "symbols" and len(rel.parts) > 1 and rel.parts[1] in ("alphabets", "math", "money"):
            continue  # letters, digits, coins: nothing a poem would name
        tags = []
        for part in list(rel.parts[:-1]) + [rel.stem, en]:
            tags += [t for t in tag_words(part) + tag_phrases(part) if t not in tags]
        out.append(Candidate("tux-" + _slug(str(rel)), TUX_VERSION, "GPL-2.0", str(img),
                             "svg" if img.suffix == ".svg" else "bitmap", tuple(tags),
                             zh or en, "zh" if zh else "en"))
    return out


def _svg_meta(path: Path) -> tuple[str, list[str]]:
    """(title, subject keywords) from an openclipart SVG's RDF metadata."""
    try:
        tree = ET.parse(path)
    except ET.ParseError:
        return "", []
    work = tree.find(".//cc:Work", _NS)
    if work is None:
        return "", []
    title = (work.findtext("dc:title", "", _NS) or "").strip()
    subjects = [(li.text or "").strip() for li in work.findall("dc:subject//rdf:li", _NS)]
    return title, [s for s in subjects if s]


OCA_SKIP_FOLDERS = ("computer", "shapes", "signs_and_symbols", "logos", "buttons")  # icons and geometry


def openclipart_candidates(raw: Path) -> list[Candidate]:
    """Public-domain SVGs: tags = subject keywords + title words + folder; caption = English title."""
    root = raw / "openclipart-svg/usr/share/openclipart/svg"
    out = []
    for svg in sorted(root.rglob("*.svg")):
        if svg.relative_to(root).parts[0] in OCA_SKIP_FOLDERS:
            continue
        title, subjects = _svg_meta(svg)
        tags: list[str] = []
        for text in subjects + [title, svg.parent.name]:
            tags += [t for t in tag_words(text) + tag_phrases(text) if t not in tags]
        if not tags:
            continue
        rel = svg.relative_to(root).with_suffix("")
        out.append(Candidate("oca-" + _slug(str(rel)), OCA_VERSION, "public domain", str(svg), "svg",
                             tuple(tags), title, "en"))
    return out


def skimage_candidates() -> list[Candidate]:
    """The photos bundled inside the scikit-image wheel (no download)."""
    try:
        import skimage
    except ImportError:
        return []
    src = f"scikit-image {skimage.__version__} (skimage.data)"
    return [Candidate("ski-" + name.replace("_", "-"), src, SKI_LICENCE, name, "skimage", tags,
                      " ".join(tags[:2]), "en") for name, tags in SKIMAGE_PHOTOS.items()]


def pzl_photo(path: str) -> io.BytesIO:
    """The photo inside a jigzo .pzl puzzle: a text header, then the JPEG (SOI marker), then the pieces' PNG mask."""
    data = Path(path).read_bytes()
    start = data.find(b"\xff\xd8\xff")
    if not data.startswith(b"PzlF") or start < 0:
        raise ValueError(f"{path}: not a jigzo puzzle holding a JPEG")
    return io.BytesIO(data[start:])


def _load_rgba(c: Candidate, size: int):
    from PIL import Image as PILImage

    if c.kind == "skimage":
        import numpy as np
        import skimage.data

        arr = getattr(skimage.data, c.path)()
        if arr.dtype == bool:
            arr = (~arr).astype(np.uint8) * 255  # horse: black silhouette on white
        return PILImage.fromarray(arr).convert("RGBA")
    if c.kind == "svg":
        import cairosvg

        png = cairosvg.svg2png(url=c.path, output_width=size * 2)
        return PILImage.open(io.BytesIO(png)).convert("RGBA")
    im = PILImage.open(pzl_photo(c.path) if c.path.endswith(".pzl") else c.path)
    if c.kind == "photo":
        im.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a reduced scale (wallpapers are 2-20 Mpx)
    return im.convert("RGBA")


def render(c: Candidate, out: Path, size: int = 256, quality: int = 85) -> None:
    """Write the image as a JPEG on white, longest side <= size, atomically; raises on unreadable sources."""
    from PIL import Image as PILImage

    im = _load_rgba(c, size)
    bbox = im.getchannel("A").getbbox()
    if bbox is None:
        raise ValueError("image is fully transparent")
    im = im.crop(bbox)
    im.thumbnail((size, size), PILImage.LANCZOS)
    if min(im.size) < 8:
        raise ValueError(f"image too small after cropping: {im.size}")
    bg = PILImage.new("RGB", im.size, (255, 255, 255))
    bg.paste(im, mask=im.getchannel("A"))
    with atomic_path(out) as tmp:
        bg.save(tmp, "JPEG", quality=quality, optimize=True)
