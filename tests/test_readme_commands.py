"""Every `img2song ...` line in the README's shell blocks runs as written, on a tiny corpus in place of the starter.

Paths under data/starter/ and runs/x are mapped to a tiny corpus and a run directory in tmp_path (a file the README
names inside data/starter is copied from the repo's starter corpus), then each command runs in-process through the
CLI's entry point, in README order, and must exit 0.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

from evaluation.app.cli import main
from tests.scorer_contract import write_dump

ROOT = Path(__file__).resolve().parents[1]
STARTER = "data/starter"
ENGLISH = "data/english"
RUN = "runs/x"
RUN_EN = "runs/en"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", text, flags=re.S)
    return [ln.split("  #")[0].strip() for b in blocks for ln in b.splitlines() if ln.strip().startswith("img2song ")]


def small_starter(root: Path, songs: int = 150, images: int = 60, corpus: str = STARTER) -> Path:
    """The first songs and images of a shipped corpus, its keywords and lexicon, and a small related-word dump."""
    src = ROOT / corpus
    root.mkdir(parents=True)
    for name, n in (("songs.jsonl", songs), ("images.jsonl", images)):
        lines = (src / name).read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (root / name).write_text("".join(lines), encoding="utf-8")
        if name == "images.jsonl":
            for ln in lines:
                f = json.loads(ln)["file"]
                (root / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src / f, root / f)
    for name in ("keywords.txt", "lexicon.tsv"):
        if (src / name).is_file():
            shutil.copy(src / name, root / name)
    kws = [w.strip() for w in (root / "keywords.txt").read_text(encoding="utf-8").splitlines()
           if w.strip() and not w.startswith("#")]
    lang = "en" if corpus == ENGLISH else "zh"
    write_dump(root / "related_words.tsv.gz", [("/r/RelatedTo", f"/c/{lang}/{a}", f"/c/{lang}/{b}", 1.0)
                                               for a, b in zip(kws, kws[1:] + kws[:1])])
    return root


def test_readme_shows_the_pipeline():
    cmds = [c.split()[1] for c in readme_commands()]
    for stage in ("build-graph", "train", "features", "evaluate", "recommend"):
        assert stage in cmds, f"README shows no `img2song {stage}`"


def test_every_readme_command_runs_as_written(tmp_path, monkeypatch, capsys):
    corpus = small_starter(tmp_path / "starter")
    english = small_starter(tmp_path / "english", corpus=ENGLISH, images=80)
    run = tmp_path / "run"

    def mapped(token: str) -> str:
        if token.startswith(ENGLISH):
            return str(english) + token[len(ENGLISH):]
        if token.startswith(RUN_EN):
            return str(tmp_path / "run_en") + token[len(RUN_EN):]
        if token.startswith(STARTER):
            rest = token[len(STARTER):].lstrip("/")
            if rest and not (corpus / rest).exists():
                (corpus / rest).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / STARTER / rest, corpus / rest)
            return str(corpus / rest) if rest else str(corpus)
        if token.startswith(RUN):
            return str(run) + token[len(RUN):]
        return token

    commands = readme_commands()
    assert commands
    for cmd in commands:
        argv = [mapped(t) for t in shlex.split(cmd)[1:]]
        code = main(argv)
        out = capsys.readouterr()
        assert code == 0, f"`{cmd}` exited {code}:\n{out.err[-2000:]}"
    assert (run / "report.json").is_file() and (run / "embeddings.npz").is_file()
