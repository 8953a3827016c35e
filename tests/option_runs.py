"""The CLI round trips the tests of a bridge setting share (--edge-model, --kind-backoff): a small corpus of two
keywords, `keywords` and `build-graph` run once per flag, and a command's --help as one line."""
from __future__ import annotations

import json
from pathlib import Path

SELECT = ["--min-images", "3", "--min-songs", "3", "--max-song-share", "0.5"]  # two keywords of 30 songs pass


def switch_corpus(root: Path, lines: tuple[str, str], images: list[dict], keywords: list[str]) -> Path:
    """30 songs, six singing lines[0], six lines[1], the rest neither; `images`; keywords.txt listing `keywords`;
    no lexicon.tsv (the bridge's own rules draw every edge)."""
    from tests.conftest import make_corpus

    songs = [{"id": f"s{i:02d}", "title": "曲", "lyrics": lines[0] if i < 6 else lines[1] if i < 12 else "客愁新。",
              "language": "zh", "popularity": float(i)} for i in range(30)]
    root = make_corpus(root, songs=songs, images=images)
    (root / "lexicon.tsv").unlink()
    (root / "keywords.txt").write_text("".join(f"{k}\n" for k in keywords), encoding="utf-8")
    return root


def tagged_rows(prefix: str, n: int, **fields) -> list[dict]:
    """n images.jsonl rows named prefix0.. with the same English fields (tags, caption)."""
    return [{"id": f"{prefix}{k}", "file": f"images/{prefix}{k}.png", "tag_language": "en", **fields}
            for k in range(n)]


def keywords_per_flag(root: Path, tmp: Path, flags: tuple[str, ...], capsys) -> dict[str, tuple[list[str], str, str]]:
    """flag -> (the keywords `img2song keywords` wrote, keywords.txt's second header line, what it printed)."""
    from evaluation.app.cli import main

    out = {}
    for flag in flags:
        path = tmp / f"{flag}.txt"
        assert main(["keywords", "--corpus", str(root), *SELECT, "--out", str(path), flag]) == 0
        text = path.read_text(encoding="utf-8").splitlines()
        out[flag] = ([w for w in text if not w.startswith("#")], text[1], capsys.readouterr().out)
    return out


def builds_per_flag(root: Path, tmp: Path, flags: tuple[str, ...], capsys) -> dict[str, tuple[dict, dict, str]]:
    """flag -> (run.json's build-graph params, image -> its sorted keywords in keywords.json, what it printed)."""
    from evaluation.app.cli import main

    out = {}
    for flag in flags:
        run = tmp / f"run{flag}"
        assert main(["build-graph", "--corpus", str(root), "--out", str(run), "--holdout", "0", flag]) == 0
        printed = capsys.readouterr().out
        params = json.loads((run / "run.json").read_text(encoding="utf-8"))["stages"]["build-graph"]["params"]
        images = json.loads((run / "keywords.json").read_text(encoding="utf-8"))["images"]
        out[flag] = (params, {i: sorted(k) for i, k in images.items()}, printed)
    return out


def help_line(command: str, capsys) -> str:
    """A command's --help, its table's lines joined into one line of single spaces."""
    from evaluation.app.cli import main

    assert main([command, "--help"]) == 0
    return " ".join(capsys.readouterr().out.replace("│", " ").split())
