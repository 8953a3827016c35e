"""宋词 (Song-dynasty ci) from npm chinese-poetry, with a popularity signal taken from the same package."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from graph.common.errors import CorpusError

POETRY_VERSION = "chinese-poetry 2.0.1"
ANONYMOUS = ("无名氏", "佚名")


@dataclass
class Ci:
    index: int  # position in the package's ci.song.*.json sequence (stable id)
    title: str
    author: str
    lyrics: str
    in_300: bool = False
    baidu_hits: int = 0


def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorpusError(path, None, None, f"malformed JSON: {e}") from None


def _numbered(folder: Path, pattern: str) -> list[Path]:
    rx = re.compile(pattern)
    files = [(int(m[1]), p) for p in folder.iterdir() if (m := rx.fullmatch(p.name))]
    return [p for _, p in sorted(files)]


def load_ci(raw: Path) -> list[Ci]:
    """All ci in package order, marked with 宋词三百首 membership and the package's Baidu hit count."""
    dist = raw / "chinese-poetry/dist"
    ci_files = _numbered(dist / "songci", r"ci\.song\.(\d+)\.json")
    if not ci_files:
        raise CorpusError(dist / "songci", None, None, "no ci.song.N.json files (run npm pack chinese-poetry?)")
    out: list[Ci] = []
    for path in ci_files:
        start = int(path.name.split(".")[2])
        items = _load_json(path)
        rank_path = dist / "rank/ci" / f"ci.song.rank.{start}.json"
        ranks = _load_json(rank_path) if rank_path.is_file() else []
        for i, item in enumerate(items):
            for field in ("author", "paragraphs", "rhythmic"):
                if field not in item:
                    raise CorpusError(path, None, field, f"entry {i} lacks the field")
            hits = 0
            if i < len(ranks) and ranks[i].get("author") == item["author"] and \
                    ranks[i].get("rhythmic") == item["rhythmic"]:
                hits = int(ranks[i].get("baidu") or 0)
            out.append(Ci(start + i, item["rhythmic"].strip(), item["author"].strip(),
                          "\n".join(p.strip() for p in item["paragraphs"]), False, hits))
    anthology = _load_json(dist / "songci/宋词三百首.json")
    keys = {(a["author"].strip(), a["rhythmic"].strip(), "".join(a["paragraphs"])[:12]) for a in anthology}
    for c in out:
        if (c.author, c.title, c.lyrics.replace("\n", "")[:12]) in keys:
            c.in_300 = True
    return out


def popularity(cis: list[Ci]) -> dict[int, float]:
    """2 * (in 宋词三百首) + percentile of the author's ci count + percentile of log Baidu hits; in [0, 4]."""
    by_author: dict[str, int] = {}
    for c in cis:
        by_author[c.author] = by_author.get(c.author, 0) + 1
    for anon in ANONYMOUS:  # "anonymous" is not a prominent author
        if anon in by_author:
            by_author[anon] = 1

    def percentile(values: list[float]) -> list[float]:
        order = sorted(values)
        n = len(order)
        import bisect
        return [bisect.bisect_right(order, v) / n for v in values]

    p_author = percentile([float(by_author[c.author]) for c in cis])
    p_hits = percentile([math.log1p(c.baidu_hits) for c in cis])
    return {c.index: round(2.0 * c.in_300 + pa + ph, 4) for c, pa, ph in zip(cis, p_author, p_hits)}
