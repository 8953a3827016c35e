"""Build issue 17's photo catalogue: the other 宋词 beside the real photos of the starter's raw packages.

python -m graph.secondcorpus.photos --raw DIR --starter data/starter --out DIR [--named]

The catalogue of the issue's own test: 10,000 classical poems the project never saw beside a few hundred real
photos with English tags, and the same photos named one by one, as a user's camera roll holds them.
- songs: the ci of npm `chinese-poetry` 2.0.1 (MIT) that the starter does not hold, a seeded sample (the third
  corpus's songs, graph.secondcorpus.third.other_ci);
- images: every real-photo candidate of the starter's raw packages (tux paint stamps that are photo cut-outs and the
  desktop-background and puzzle photos, graph.starter.images / graph.starter.photos, kept where
  graph.starter.kinds.image_kind says "photo"), rendered by the starter's `render`, licence and source per file;
- as tagged (default): each photo's tags and caption as the starter's candidate functions make them (folder and file
  name words, the stamp's zh_CN description);
- `--named`: each photo's only text is its file name as a user's camera roll would hold it ("frog-1.png"), as the
  caption (English, no tags): graph.captions.readable turns it into words. No folder words, no Chinese caption.
It holds only songs.jsonl, images.jsonl and images/ (no keywords.txt or lexicon): what a user brings.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from graph.cedict import english_to_chinese, parse_cedict
from graph.common.errors import Img2SongError
from graph.secondcorpus.build import Made, run_build, write_corpus
from graph.secondcorpus.third import add_ci_arguments, other_ci
from graph.starter import images as img_src
from graph.starter.build import CEDICT_WHEEL, MAX_CHARS, deb_versions
from graph.starter.images import Candidate
from graph.starter.kinds import image_kind
from graph.starter.photos import PLASMA, wallpaper_candidates


def photo_candidates(raw: Path, skipped: Counter[str]) -> list[Candidate]:
    """Every candidate of the starter's raw packages that is a real photo (full-frame, or a stamp that is a photo
    cut-out by graph.starter.kinds), in the candidate functions' order."""
    cedict = raw / CEDICT_WHEEL
    if not cedict.is_file():
        raise Img2SongError(f"{cedict}: missing (the CC-CEDICT file of the starter's raw packages; the wallpapers' "
                            "CamelCase names are split by it)")
    en2zh = english_to_chinese(parse_cedict(cedict), max_len=MAX_CHARS)
    cands = img_src.tuxpaint_candidates(raw) + wallpaper_candidates(raw, deb_versions(raw), en2zh.__contains__)
    photos = []
    for c in tqdm(cands, desc="photo or drawing", unit=" img", mininterval=5):
        try:
            kind = "drawing" if c.kind == "svg" else image_kind(c.kind, c.path)
        except Exception as err:  # noqa: BLE001 - PIL fails in many ways on a broken stamp: count it
            skipped[f"unreadable candidate ({type(err).__name__})"] += 1
            continue
        if kind == "photo":
            photos.append(c)
        else:
            skipped["candidate that is a drawing"] += 1
    print(f"image candidates: {len(cands)}, real photos among them: {len(photos)}")
    return photos


def user_file_name(c: Candidate) -> str:
    """The photo's file name as a user's camera roll would hold it: the raw file's own name ('frog-1.png',
    'Elephants_3840x2160.jpg'); a Plasma wallpaper's files are named by size (Altai/contents/images/1080x1920.png),
    so its folder names it ('Altai.png'); a jigzo puzzle's photo is the JPEG inside the .pzl ('gorilla2-3x3.jpg')."""
    p = Path(c.path)
    if c.source.split()[0] == PLASMA and p.parent.name == "images" and p.parent.parent.name == "contents":
        return p.parents[2].name + p.suffix
    if p.suffix == ".pzl":
        return p.stem + ".jpg"
    return p.name


def tagged_row(c: Candidate) -> dict:
    """images.jsonl row of a photo as tagged: the candidate's tags and caption."""
    return {"id": c.key, "file": f"images/{c.key}.jpg", "tags": list(c.tags), "caption": c.caption,
            "language": c.language, "tag_language": "en", "source": c.source, "licence": c.licence, "kind": "photo"}


def named_row(c: Candidate) -> dict:
    """images.jsonl row of a photo named one by one: its file name as the only text (an English caption)."""
    return {"id": c.key, "file": f"images/{c.key}.jpg", "tags": [], "caption": user_file_name(c),
            "language": "en", "tag_language": "en", "source": c.source, "licence": c.licence, "kind": "photo"}


def render_photos(cands: list[Candidate], out: Path, named: bool, skipped: Counter[str]) -> list[dict]:
    """Render each photo into out/images (the starter's `render`: on white, <= 256 px JPEG) and return its rows; a
    source file that cannot be read is a counted skip."""
    rows = []
    for c in tqdm(cands, desc="render", unit=" img", mininterval=5):
        try:
            img_src.render(c, out / "images" / f"{c.key}.jpg")
        except Exception as err:  # noqa: BLE001 - PIL fails in many ways on a broken source file: count it
            skipped[f"unrenderable photo ({type(err).__name__})"] += 1
            continue
        rows.append(named_row(c) if named else tagged_row(c))
    return rows


def build(raw: Path, out: Path, starter: Path, named: bool = False, max_songs: int = 10000, seed: int = 0) -> Made:
    """Write songs.jsonl, images.jsonl and images/ into `out` (which must be empty or absent), through a partial
    folder renamed to `out` only when complete."""
    t0 = time.perf_counter()
    raw, out = Path(raw), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Img2SongError(f"{out}: not empty; give a new directory")
    if not raw.is_dir():
        raise Img2SongError(f"{raw}: --raw folder not found")
    if not (Path(starter) / "songs.jsonl").is_file():
        raise Img2SongError(f"{Path(starter) / 'songs.jsonl'}: missing (--starter: the corpus whose ci to leave out)")
    skipped: Counter[str] = Counter()
    songs = other_ci(raw, Path(starter), max_songs, seed)
    cands = photo_candidates(raw, skipped)

    def images_of(part: Path) -> list[dict]:
        rows = render_photos(cands, part, named, skipped)
        if not rows:
            raise Img2SongError(f"{raw}: no real photo among the starter's raw packages (unpack them there first, "
                                "see graph/starter/README.md)")
        return rows

    images = write_corpus(out, songs, images_of)
    print(f"images: {'named one by one (file name as caption, no tags)' if named else 'as tagged'}; by source: "
          + ", ".join(f"{s} {n}" for s, n in sorted(Counter(r['source'] for r in images).items())))
    return Made(len(songs), len(images), dict(skipped), time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, required=True,
                    help="the starter's raw folder: unpacked image packages, CC-CEDICT, chinese-poetry/dist")
    add_ci_arguments(ap, "runs/corpora/photos")
    ap.add_argument("--named", action="store_true",
                    help="photos named one by one: each photo's file name is its only text (no tags)")
    a = ap.parse_args(argv)
    return run_build(lambda: build(a.raw, a.out, a.starter, a.named, a.max_songs, a.seed), a.out)


if __name__ == "__main__":
    raise SystemExit(main())
