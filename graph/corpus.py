"""Load and validate a corpus directory: songs.jsonl, images.jsonl, images/, manifest.json (+ keywords.txt, lexicon.tsv)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.common.errors import CorpusError
from graph.common.readers import iter_jsonl, iter_text_lines, read_json
from graph.corpus_files import probe_image, resolve_corpus_file
from graph.records import (
    IMAGE_OPTIONAL,
    IMAGE_REQUIRED,
    LANGUAGES,
    SONG_OPTIONAL,
    SONG_REQUIRED,
    Image,
    LoadReport,
    Song,
)

SONGS_FILE = "songs.jsonl"
IMAGES_FILE = "images.jsonl"
MANIFEST_FILE = "manifest.json"
KEYWORDS_FILE = "keywords.txt"
LEXICON_FILE = "lexicon.tsv"
RELATED_FILE = "related_words.tsv.gz"
# Size limits on corpus text (a 1,000,000-character keyword drove jieba's add_word, quadratic in the length, to
# 21.7 GB; a 10,000-line keywords.txt kept the keyword probe busy for over 10 minutes).
MAX_KEYWORD_CHARS = 64
MAX_KEYWORDS = 2000
MAX_LYRICS_CHARS = 200_000
MAX_SHORT_FIELD_CHARS = 2_000  # ids, titles, artists, files, tags


@dataclass
class Corpus:
    root: Path
    songs: list[Song]
    images: list[Image]
    keywords: list[str] | None = None  # the selected keyword vocabulary, when the corpus fixes one
    lexicon: dict[str, list[str]] = field(default_factory=dict)  # English word -> Chinese keywords
    manifest: dict[str, Any] = field(default_factory=dict)
    report: LoadReport = field(default_factory=LoadReport)

    def song(self, song_id: str) -> Song:
        return self._song_index()[song_id]

    def image(self, image_id: str) -> Image:
        return self._image_index()[image_id]

    def image_path(self, image: Image | str) -> Path:
        """The image's file, resolved and confined to the corpus directory (graph.corpus_files)."""
        img = self.image(image) if isinstance(image, str) else image
        return resolve_corpus_file(self.root, img.file, self.root / IMAGES_FILE, None, "file")

    def _song_index(self) -> dict[str, Song]:
        if getattr(self, "_songs_by_id", None) is None:
            self._songs_by_id = {s.id: s for s in self.songs}
        return self._songs_by_id

    def _image_index(self) -> dict[str, Image]:
        if getattr(self, "_images_by_id", None) is None:
            self._images_by_id = {i.id: i for i in self.images}
        return self._images_by_id

    @property
    def related_words_dump(self) -> Path:
        return self.root / RELATED_FILE


def _fields(path: Path, lineno: int, obj: dict, required: dict, optional: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, typ in required.items():
        if name not in obj or obj[name] is None:
            raise CorpusError(path, lineno, name, "required field is missing")
        if not isinstance(obj[name], typ):
            raise CorpusError(path, lineno, name, f"expected {typ.__name__}, got {type(obj[name]).__name__}")
        out[name] = obj[name]
    for name, (typ, default) in optional.items():
        val = obj.get(name, default)
        if val is None:
            val = default
        if not isinstance(val, typ) or isinstance(val, bool):
            raise CorpusError(path, lineno, name, f"has the wrong type {type(val).__name__}")
        out[name] = val
    if not out["id"].strip():
        raise CorpusError(path, lineno, "id", "is empty")
    for name, val in out.items():
        for text in (val if isinstance(val, list) else [val]):
            if isinstance(text, str) and name not in ("lyrics", "caption") and len(text) > MAX_SHORT_FIELD_CHARS:
                raise CorpusError(path, lineno, name, f"is {len(text)} characters long, over the limit of "
                                                      f"{MAX_SHORT_FIELD_CHARS}")
    bad = next((c for c in out["id"] if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:  # U+0000 was cut off in .npz tables; a newline would break every line-based output
        raise CorpusError(path, lineno, "id", f"contains the control character U+{ord(bad):04X}")
    for name, val in out.items():
        for text in (val if isinstance(val, list) else [val]):
            if isinstance(text, str) and not _valid_unicode(text):
                raise CorpusError(path, lineno, name, "contains a lone surrogate (e.g. \\ud800): not valid Unicode "
                                                      "text")
    for lang in ("language", "tag_language"):
        if lang in out and out[lang] not in LANGUAGES:
            raise CorpusError(path, lineno, lang, f"must be one of {LANGUAGES}, got {out[lang]!r}")
    return out


def _valid_unicode(text: str) -> bool:
    """False for a string holding a lone surrogate (JSON's \\ud800 decodes to one; UTF-8 cannot encode it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def load_songs(path: Path, report: LoadReport) -> list[Song]:
    songs: list[Song] = []
    first_line: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path):
        f = _fields(path, lineno, obj, SONG_REQUIRED, SONG_OPTIONAL)
        if f["id"] in first_line:
            raise CorpusError(path, lineno, "id", f"duplicate id {f['id']!r} (first at line {first_line[f['id']]})")
        first_line[f["id"]] = lineno
        if not f["lyrics"].strip():
            report.skip("song with empty lyrics", f"{path.name}:{lineno}")
            continue
        if len(f["lyrics"]) > MAX_LYRICS_CHARS:
            report.skip(f"song with lyrics over {MAX_LYRICS_CHARS} characters", f"{path.name}:{lineno}")
            continue
        songs.append(Song(f["id"], f["title"], f["artist"], f["lyrics"], f["language"], float(f["popularity"])))
    report.songs = len(songs)
    return songs


def load_images(path: Path, root: Path, report: LoadReport, check_files: bool = True) -> list[Image]:
    images: list[Image] = []
    first_line: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path):
        f = _fields(path, lineno, obj, IMAGE_REQUIRED, IMAGE_OPTIONAL)
        if f["id"] in first_line:
            raise CorpusError(path, lineno, "id", f"duplicate id {f['id']!r} (first at line {first_line[f['id']]})")
        first_line[f["id"]] = lineno
        if not all(isinstance(t, str) for t in f["tags"]):
            raise CorpusError(path, lineno, "tags", "must be a list of strings")
        file = resolve_corpus_file(root, f["file"], path, lineno, "file")
        if check_files:
            probe = probe_image(file, path, lineno)
            for w in probe.warnings:
                report.note(f"image decoded with a PIL warning ({w})", f"{path.name}:{lineno}")
            if probe.skip:
                report.skip(probe.skip, f"{path.name}:{lineno}")
                continue
        tags = tuple(t.strip() for t in f["tags"] if t.strip())
        if not tags and not f["caption"].strip():
            report.skip("image with no tags and no caption", f"{path.name}:{lineno}")
            continue
        images.append(Image(f["id"], f["file"], tags, f["caption"], f["language"], f["tag_language"],
                            f["source"], f["licence"]))
    report.images = len(images)
    return images


def _load_lexicon(path: Path) -> dict[str, list[str]]:
    lex: dict[str, list[str]] = {}
    for lineno, line in iter_text_lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise CorpusError(path, lineno, None, "expected two tab-separated columns: english<TAB>chinese")
        lex.setdefault(parts[0].strip().lower(), []).append(parts[1].strip())
    return lex


def _load_keywords(path: Path, report: LoadReport) -> list[str]:
    """keywords.txt: one keyword a line (# comments); a repeated keyword is dropped and counted."""
    first: dict[str, int] = {}
    for lineno, line in iter_text_lines(path):
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        if word in first:
            report.skip(f"duplicate keyword in {KEYWORDS_FILE}", f"{path.name}:{lineno} (first at line {first[word]})")
            continue
        if len(word) > MAX_KEYWORD_CHARS:
            raise CorpusError(path, lineno, None, f"a keyword of {len(word)} characters, over the limit of "
                                                  f"{MAX_KEYWORD_CHARS}")
        if len(first) == MAX_KEYWORDS:
            raise CorpusError(path, lineno, None, f"more than {MAX_KEYWORDS} keywords (the network, the probe and "
                                                  "the ground truth grow with each one)")
        first[word] = lineno
    if not first:
        raise CorpusError(path, None, None, "lists no keywords (only comments or blank lines); delete the file to "
                                            "let build-graph select keywords itself")
    return list(first)


def load_corpus(root: str | Path, check_files: bool = True) -> Corpus:
    """Validate and load a corpus directory; raises CorpusError naming file, line and field."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(root, None, None, "corpus directory not found")
    report = LoadReport()
    for name in (SONGS_FILE, IMAGES_FILE):
        if not (root / name).exists():
            raise CorpusError(root / name, None, None, "required corpus file is missing")
        if not (root / name).is_file():  # a FIFO or a device would block or never end; a folder is a mistake
            raise CorpusError(root / name, None, None, "is not a regular file")
    songs = load_songs(root / SONGS_FILE, report)
    if not songs:
        raise CorpusError(root / SONGS_FILE, None, None, "no songs (the file is empty or every song was skipped)")
    images = load_images(root / IMAGES_FILE, root, report, check_files=check_files)
    manifest: dict[str, Any] = {}
    if (root / MANIFEST_FILE).is_file():
        manifest = read_json(root / MANIFEST_FILE, "corpus manifest")
        if not isinstance(manifest, dict):
            raise CorpusError(root / MANIFEST_FILE, None, None, "expected a JSON object")
    keywords = _load_keywords(root / KEYWORDS_FILE, report) if (root / KEYWORDS_FILE).is_file() else None
    lexicon = _load_lexicon(root / LEXICON_FILE) if (root / LEXICON_FILE).is_file() else {}
    return Corpus(root, songs, images, keywords, lexicon, manifest, report)
