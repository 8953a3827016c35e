"""Build a second corpus (元曲 lyrics + emoji and desktop photos): python -m graph.secondcorpus.build --raw DIR --out DIR.

Sources the starter corpus does not draw on (fetch them into --raw first, see README.md here):
- songs: 元曲 (yuanqu, Yuan-dynasty sung verse) of npm `chinese-poetry` 2.0.1 (MIT), `dist/yuanqu/yuanqu.json`;
- images: the colour emoji of Debian `fonts-noto-color-emoji` (OFL-1.1 font, Apache-2.0 images) rendered with
  Pillow, tagged with their Unicode names; the named photos of Debian `ukui-wallpapers` (GPL-2+), tagged with
  the words of their file names.
The corpus holds only songs.jsonl, images.jsonl and images/ (no keywords.txt, lexicon.tsv or related words): it is
what a user brings, so build-graph must select the keywords and bridge English tags to Chinese lyrics itself.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import tarfile
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from graph.common.atomic import write_text
from graph.common.errors import Img2SongError

POETRY_TGZ = "chinese-poetry-2.0.1.tgz"
YUANQU_JSON = "package/dist/yuanqu/yuanqu.json"
EMOJI_DEB = "fonts-noto-color-emoji_*.deb"
EMOJI_FONT = "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
# package -> folders of named photos (the starter corpus draws on mate-backgrounds and plasma-workspace-wallpapers)
PHOTO_DEBS = {"ukui-wallpapers_*.deb": ("usr/share/backgrounds",)}
MAX_SIDE = 256
# Unicode blocks of pictures (emoji pictographs); arrows, geometric shapes and enclosed letters are symbols
PICTURE_BLOCKS = ((0x2600, 0x27BF), (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1FA70, 0x1FAFF))
_STAGE = re.compile(r"[(（][^)）]*[)）]")  # stage directions: (合) (丑唱)
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


@dataclass(frozen=True)
class Made:
    songs: int
    images: int
    skipped: dict[str, int]
    seconds: float


def _one(raw: Path, pattern: str) -> Path:
    hits = sorted(raw.glob(pattern))
    if not hits:
        raise Img2SongError(f"{raw}: no {pattern}; fetch it first (see graph/secondcorpus/README.md)")
    return hits[-1]


def _deb_extract(deb: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], check=True)
    return into


def load_yuanqu(raw: Path, skipped: Counter[str], min_chars: int = 12) -> list[dict]:
    """元曲 as song records: stage directions removed; popularity = log(1 + pieces by the same author)."""
    with tarfile.open(_one(raw, POETRY_TGZ)) as tf:
        member = tf.extractfile(YUANQU_JSON)
        if member is None:
            raise Img2SongError(f"{raw / POETRY_TGZ}: {YUANQU_JSON} missing")
        rows = json.load(member)
    by_author = Counter(r.get("author", "") for r in rows)
    songs = []
    for k, r in enumerate(rows):
        lines = [_STAGE.sub("", p).strip() for p in r.get("paragraphs", [])]
        lyrics = "\n".join(p for p in lines if p)
        if len(lyrics) < min_chars:
            skipped["song shorter than 12 characters"] += 1
            continue
        author = r.get("author", "")
        songs.append({"id": f"yq-{k:05d}", "title": r.get("title", ""), "artist": author, "lyrics": lyrics,
                      "language": "zh", "popularity": round(math.log1p(by_author[author]), 4) if author else 0.0})
    return songs


def _save(im, path: Path) -> None:
    from PIL import Image

    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGB", im.size, "white")
        bg.paste(im, mask=im.split()[-1])
        im = bg
    im = im.convert("RGB")
    im.thumbnail((MAX_SIDE, MAX_SIDE))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=88)


def emoji_images(font_path: Path, out: Path, source: str, skipped: Counter[str]) -> list[dict]:
    """One image per single-code-point emoji of the font, tagged with its Unicode name ('CHERRY BLOSSOM')."""
    from fontTools.ttLib import TTFont
    from PIL import Image, ImageDraw, ImageFont

    cmap = TTFont(str(font_path), lazy=True).getBestCmap()
    font = ImageFont.truetype(str(font_path), 109)  # the bitmap size of Noto Color Emoji
    rows = []
    for cp in tqdm(sorted(cmap), desc="emoji", unit=" glyph", mininterval=5):
        ch = chr(cp)
        name = unicodedata.name(ch, "")
        if not name or not any(a <= cp <= b for a, b in PICTURE_BLOCKS):
            continue  # digits, letters, arrows, shapes, enclosed letters, joiners: symbols, not pictures
        if "MODIFIER" in name or "REGIONAL INDICATOR" in name:
            skipped["emoji modifier"] += 1
            continue
        im = Image.new("RGBA", (136, 128), (255, 255, 255, 0))
        ImageDraw.Draw(im).text((0, 0), ch, font=font, embedded_color=True)
        if im.getbbox() is None:
            skipped["emoji without a glyph"] += 1
            continue
        key = f"emoji-{cp:05x}"
        _save(im, out / "images" / f"{key}.jpg")
        label = name.lower()
        rows.append({"id": key, "file": f"images/{key}.jpg", "tags": [label], "caption": "",
                     "language": "en", "tag_language": "en", "source": source, "licence": "Apache-2.0 (images)"})
    return rows


def photo_images(root: Path, out: Path, source: str, skipped: Counter[str]) -> list[dict]:
    """Named photos: tags are the words of the file name (FreshFlower.jpg -> 'fresh flower')."""
    from PIL import Image

    rows = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in (".jpg", ".jpeg", ".png") or re.search(r"_\d+x\d+$", p.stem):
            continue  # the same photo at another resolution
        words = [w.lower() for w in _CAMEL.findall(p.stem.replace("-", " ").replace("_", " "))]
        if not words:
            skipped["photo without a name"] += 1
            continue
        key = f"photo-{source.split()[0]}-{p.stem}".lower()
        with Image.open(p) as im:
            _save(im, out / "images" / f"{key}.jpg")
        rows.append({"id": key, "file": f"images/{key}.jpg", "tags": [" ".join(words)], "caption": "",
                     "language": "en", "tag_language": "en",
                     "source": source, "licence": "GPL-2+"})
    return rows


def named_one_by_one(corpus: Path, out: Path, skipped: Counter[str]) -> list[dict]:
    """Another corpus's images with their tags removed, each keeping only its caption (its file's own name or
    title): photos named one by one, as a user's are. The image files are copied."""
    import shutil

    rows = []
    for n, line in enumerate((corpus / "images.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        r = json.loads(line)
        if not str(r.get("caption", "")).strip():
            skipped["image without a caption"] += 1
            continue
        src = corpus / r["file"]
        if not src.is_file():
            raise Img2SongError(f"{corpus / 'images.jsonl'}:{n}: field 'file': {src} does not exist")
        (out / r["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out / r["file"])
        rows.append({**r, "tags": []})
    return rows


def _version(deb: Path) -> str:
    return deb.name.split("_")[1]


def packaged_images(raw: Path, out: Path, skipped: Counter[str]) -> list[dict]:
    """The colour emoji and the named photos of the packages in `raw`."""
    images = []
    with tempfile.TemporaryDirectory() as tmp:
        deb = _one(raw, EMOJI_DEB)
        x = _deb_extract(deb, Path(tmp) / "emoji")
        images += emoji_images(x / EMOJI_FONT, out, f"fonts-noto-color-emoji {_version(deb)}", skipped)
        for pattern, subs in PHOTO_DEBS.items():
            deb = _one(raw, pattern)
            x = _deb_extract(deb, Path(tmp) / deb.stem)
            for sub in subs:
                images += photo_images(x / sub, out, f"{deb.name.split('_')[0]} {_version(deb)}", skipped)
    return images


def build(raw: Path, out: Path, captions_of: Path | None = None) -> Made:
    """Write songs.jsonl, images.jsonl and images/ into `out` (which must be empty or absent); with `captions_of`,
    the images are that corpus's, named one by one (named_one_by_one), instead of the emoji and photos."""
    t0 = time.perf_counter()
    raw, out = Path(raw), Path(out)
    if out.exists() and any(out.iterdir()):
        raise Img2SongError(f"{out}: not empty; give a new directory")
    skipped: Counter[str] = Counter()
    songs = load_yuanqu(raw, skipped)
    if captions_of is not None:
        images = named_one_by_one(Path(captions_of), out, skipped)
    else:
        images = packaged_images(raw, out, skipped)
    write_text(out / "songs.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in songs))
    write_text(out / "images.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in images))
    return Made(len(songs), len(images), dict(skipped), time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, required=True, help="folder with the fetched tarball and .deb files")
    ap.add_argument("--out", type=Path, required=True, help="new corpus directory, e.g. runs/corpora/second")
    ap.add_argument("--captions-of", type=Path, default=None, metavar="CORPUS",
                    help="instead of the emoji and photos, CORPUS's images with their tags removed (caption only: "
                         "photos named one by one)")
    a = ap.parse_args(argv)
    return run_build(lambda: build(a.raw, a.out, a.captions_of), a.out)


def write_corpus(out: Path, songs: list[dict], make_images: Callable[[Path], list[dict]]) -> list[dict]:
    """Write songs.jsonl, images.jsonl and the images `make_images(folder)` writes (returning their rows) into a
    partial folder beside `out`, renamed to `out` (absent or empty) only when complete: on any error no corpus and
    no partial folder stay. Returns the image rows."""
    import shutil

    part = out.parent / f".{out.name}.partial"
    shutil.rmtree(part, ignore_errors=True)
    try:
        images = make_images(part)
        write_text(part / "songs.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in songs))
        write_text(part / "images.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in images))
        if out.exists():
            out.rmdir()
        part.rename(out)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return images


def run_build(make: Callable[[], Made], out: Path) -> int:
    """Run a corpus build for a command line: say what it wrote and skipped, or the error (exit status 2)."""
    try:
        made = make()
    except Img2SongError as e:
        print(f"error: {e}")
        return 2
    print(f"wrote {made.songs} songs and {made.images} images to {out} in {made.seconds:.1f} s; "
          f"skipped: {made.skipped or 'nothing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
