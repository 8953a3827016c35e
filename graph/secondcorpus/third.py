"""Build a third corpus (the 宋词 the starter leaves out + OpenMoji and Tabler icons with several tags each):
python -m graph.secondcorpus.third --raw DIR --out DIR.

Sources neither the starter nor the second corpus draws on (fetch them into --raw first, see README.md here):
- songs: the ci of npm `chinese-poetry` 2.0.1 (MIT), `dist/songci`, that data/starter/songs.jsonl does not hold (a
  seeded sample of up to --max-songs of them), read and scored as the starter's builder does (graph.starter.songs);
- images: the colour emoji of npm `openmoji` 17.0.0 (CC-BY-SA-4.0, author per emoji), tagged with their CLDR
  keywords and OpenMoji tags, captioned with their annotation; the outline icons of npm `@tabler/icons` 3.51.0
  (MIT) in the categories that depict things, tagged with the package's tag list, captioned with the icon's name.
Like the second corpus it holds only songs.jsonl, images.jsonl and images/ (no keywords.txt, lexicon.tsv or related
words): what a user brings.
"""
from __future__ import annotations

import argparse
import json
import re
import tarfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from graph.common.errors import Img2SongError
from graph.secondcorpus.build import Made, _one, run_build, write_corpus
from graph.starter.build import sample_songs
from graph.starter.images import Candidate, render
from graph.starter.songs import load_ci, popularity

OPENMOJI_TGZ = "openmoji-*.tgz"
TABLER_TGZ = "tabler-icons-*.tgz"
# licences (SPDX ids, as package.json states them) under which images may ship in a corpus with attribution
ALLOWED_LICENCES = frozenset({"MIT", "ISC", "Apache-2.0", "CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "BSD-2-Clause",
                              "BSD-3-Clause", "OFL-1.1"})
# OpenMoji groups left out: country flags (a flag is a place name, not a picture of one), skin-tone components and
# the symbols group (arrows, keycaps, signs), as the second corpus leaves out the emoji symbol blocks
OPENMOJI_SKIP_GROUPS = frozenset({"flags", "component", "symbols"})
# Tabler categories whose icons depict things (System, Text, Arrows, Brand, Letters, Numbers, Shapes ... do not)
TABLER_CATEGORIES = frozenset({"Animals", "Buildings", "Food", "Nature", "Vehicles", "Weather", "Sport", "Games",
                               "Health", "Mood", "Gestures", "Zodiac", "Devices", "Laundry", "Photography", "Media",
                               "Map"})
# name endings of Tabler's status variants of an icon (cloud-off, cake-plus, camera-2): the same picture with a badge
TABLER_VARIANTS = frozenset({"off", "x", "plus", "minus", "down", "up", "check", "exclamation", "share", "cog",
                             "star", "pause", "search", "bolt", "cancel", "dollar", "heart", "pin", "question",
                             "code", "spark", "discount", "edit", "shield", "left", "right", "filled", "bitcoin"})
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Tagged:
    """One image entry of a package's tag file, before rendering."""
    key: str
    member: str  # the SVG's path inside the package tarball
    tags: tuple[str, ...]
    caption: str
    licence: str


def spdx_allowed(licence: str) -> bool:
    """True when a package's SPDX licence expression lets its images ship: every id of an AND, any id of an OR."""
    expr = licence.strip().strip("()")
    if not expr:
        return False
    if " OR " in expr:
        return any(spdx_allowed(p) for p in expr.split(" OR "))
    if " AND " in expr:
        return all(spdx_allowed(p) for p in expr.split(" AND "))
    return expr in ALLOWED_LICENCES


def _tag_list(*fields: str | list[str]) -> tuple[str, ...]:
    """Tags as a user's tag field holds them: lower-case phrases, hyphens as spaces, in order, without repeats."""
    out: list[str] = []
    for f in fields:
        for t in (f.split(",") if isinstance(f, str) else f):
            t = " ".join(str(t).replace("-", " ").replace("_", " ").lower().split())
            if t and t not in out:
                out.append(t)
    return tuple(out)


def openmoji_entries(rows: list[dict], licence: str, where: str, skipped: Counter[str]) -> list[Tagged]:
    """OpenMoji's data/openmoji.json: one entry per emoji without a skin tone, outside the skipped groups."""
    out = []
    for n, r in enumerate(rows):
        missing = [f for f in ("hexcode", "group", "annotation") if f not in r]
        if missing:
            raise Img2SongError(f"{where}: entry {n}: field {missing[0]!r} missing")
        if r.get("skintone"):
            skipped["openmoji skin-tone variant"] += 1
            continue
        if r["group"] in OPENMOJI_SKIP_GROUPS:
            skipped[f"openmoji group {r['group']}"] += 1
            continue
        tags = _tag_list(r.get("tags", ""), r.get("openmoji_tags", ""))
        caption = " ".join(str(r["annotation"]).split())
        if not tags and not caption:
            skipped["openmoji without tags or annotation"] += 1
            continue
        author = str(r.get("openmoji_author", "")).strip()
        out.append(Tagged(f"openmoji-{r['hexcode'].lower()}", f"package/color/svg/{r['hexcode']}.svg", tags,
                          caption, f"{licence} (OpenMoji{', by ' + author if author else ''})"))
    return out


def tabler_entries(icons: dict, licence: str, where: str, skipped: Counter[str]) -> list[Tagged]:
    """Tabler's icons.json: the outline icons of the depicting categories, without their status variants."""
    out = []
    for name, r in icons.items():
        if not isinstance(r, dict) or not isinstance(r.get("tags", []), list):
            raise Img2SongError(f"{where}: icon {name!r}: field 'tags' is not a list")
        if r.get("category") not in TABLER_CATEGORIES:
            skipped["tabler category that depicts nothing"] += 1
            continue
        last = name.rsplit("-", 1)[-1]
        if last in TABLER_VARIANTS or _NUMBER.fullmatch(last):
            skipped["tabler status or numbered variant"] += 1
            continue
        if "outline" not in r.get("styles", {"outline": {}}):
            skipped["tabler icon without an outline style"] += 1
            continue
        out.append(Tagged(f"tabler-{name}", f"package/icons/outline/{name}.svg", _tag_list(r.get("tags", [])),
                          name.replace("-", " "), licence))
    return out


def _package(tf: tarfile.TarFile, where: Path) -> tuple[str, str]:
    """(name version, licence) from the tarball's package.json, refusing a licence outside ALLOWED_LICENCES."""
    meta = json.load(tf.extractfile("package/package.json"))
    licence = str(meta.get("license", ""))
    if not spdx_allowed(licence):
        raise Img2SongError(f"{where}: package.json field 'license': {licence!r} is not one of "
                            f"{', '.join(sorted(ALLOWED_LICENCES))}")
    return f"npm {meta['name']} {meta['version']}", licence


def package_images(raw: Path, out: Path, skipped: Counter[str]) -> list[dict]:
    """Render the tagged SVGs of both icon packages into out/images and return their images.jsonl rows."""
    rows = []
    for pattern, tag_file, parse in ((OPENMOJI_TGZ, "package/data/openmoji.json", openmoji_entries),
                                     (TABLER_TGZ, "package/icons.json", tabler_entries)):
        tgz = _one(raw, pattern)
        work = out / ".unpacked" / tgz.stem
        with tarfile.open(tgz) as tf:
            source, licence = _package(tf, tgz)
            entries = parse(json.load(tf.extractfile(tag_file)), licence, f"{tgz}:{tag_file}", skipped)
            wanted = {e.member for e in entries}
            tf.extractall(work, members=[m for m in tf.getmembers() if m.name in wanted], filter="data")
        for e in tqdm(entries, desc=source, unit=" img", mininterval=5):
            svg = work / e.member
            if not svg.is_file():
                skipped[f"{source}: tag entry without its SVG"] += 1
                continue
            try:
                render(Candidate(e.key, source, e.licence, str(svg), "svg", e.tags, e.caption, "en"),
                       out / "images" / f"{e.key}.jpg")
            except Exception as err:  # noqa: BLE001 - cairosvg fails in many ways on SVGs it cannot draw: count it
                skipped[f"{source}: unrenderable SVG ({type(err).__name__})"] += 1
                continue
            rows.append({"id": e.key, "file": f"images/{e.key}.jpg", "tags": list(e.tags), "caption": e.caption,
                         "language": "en", "tag_language": "en", "source": source, "licence": e.licence,
                         "kind": "drawing"})
    return rows


def other_ci(raw: Path, starter: Path, max_songs: int, seed: int) -> list[dict]:
    """The ci the starter does not hold (by its ci-NNNNNN ids), a seeded sample of up to max_songs, as song rows
    scored by the starter's popularity over the whole collection."""
    held = set()
    for n, line in enumerate((starter / "songs.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            sid = json.loads(line).get("id", "")
            if not str(sid).startswith("ci-"):
                raise Img2SongError(f"{starter / 'songs.jsonl'}:{n}: field 'id': {sid!r} is not a ci-NNNNNN id")
            held.add(int(str(sid)[3:]))
    cis = load_ci(raw)
    pop = popularity(cis)
    rest = [c for c in cis if c.index not in held]
    chosen = sample_songs(rest, max_songs, seed)  # the starter's sampler: its 宋词三百首 members are all held
    print(f"ci: {len(cis)}; the starter holds {len(held)}; {len(rest)} others, taking {len(chosen)}")
    return [{"id": f"ci-{c.index:06d}", "title": c.title, "artist": c.author, "lyrics": c.lyrics, "language": "zh",
             "popularity": pop[c.index]} for c in chosen]


def build(raw: Path, out: Path, starter: Path, max_songs: int = 10000, seed: int = 0) -> Made:
    """Write songs.jsonl, images.jsonl and images/ into `out` (which must be empty or absent)."""
    import shutil

    t0 = time.perf_counter()
    raw, out = Path(raw), Path(out)
    if out.exists() and any(out.iterdir()):
        raise Img2SongError(f"{out}: not empty; give a new directory")
    skipped: Counter[str] = Counter()
    songs = other_ci(raw, Path(starter), max_songs, seed)

    def images(part: Path) -> list[dict]:
        rows = package_images(raw, part, skipped)
        shutil.rmtree(part / ".unpacked", ignore_errors=True)
        return rows

    rows = write_corpus(out, songs, images)
    return Made(len(songs), len(rows), dict(skipped), time.perf_counter() - t0)


def add_ci_arguments(ap: argparse.ArgumentParser, example_out: str) -> None:
    """--out, --starter, --max-songs and --seed of a corpus built on the ci the starter does not hold (other_ci)."""
    ap.add_argument("--out", type=Path, required=True, help=f"new corpus directory, e.g. {example_out}")
    ap.add_argument("--starter", type=Path, default=Path("data/starter"), help="the corpus whose ci to leave out")
    ap.add_argument("--max-songs", type=int, default=10000, help="at most this many of the other ci")
    ap.add_argument("--seed", type=int, default=0, help="seed of the ci sample")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, required=True,
                    help="folder with chinese-poetry/dist (unpacked) and the openmoji and tabler-icons tarballs")
    add_ci_arguments(ap, "runs/corpora/third")
    a = ap.parse_args(argv)
    return run_build(lambda: build(a.raw, a.out, a.starter, a.max_songs, a.seed), a.out)


if __name__ == "__main__":
    raise SystemExit(main())
