"""report.html without a browser: escaping, both report.json shapes, lyric highlighting, thumbnails, the CLI."""
from __future__ import annotations

import json
import re
import shutil

import pytest
from PIL import Image

from evaluation.app.cli import main
from evaluation.stages.html_report import build_page, snippet, write_html_report
from evaluation.stages.protocol import evaluate_run
from tests.scorer_contract import make_run, set_song_title


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    run = make_run(root)
    set_song_title(root / "corpus", "s2", '<script>alert("x")</script> & <b>')
    evaluate_run(run, scorers=("ne", "km"), cache_dir=root / "cn", k=3, n_boot=50, progress=False)
    return run


def test_snippet_highlights_the_matched_words_of_the_first_line_holding_one():
    assert snippet("春风\n明月几时有，月光", ["月"]) == [("明", False), ("月", True), ("几时有，", False), ("月", True),
                                                        ("光", False)]
    assert snippet("no match here\nsecond", ["月"]) == [("no match here", False)]
    # longest word first, case-insensitive, original case kept
    assert snippet("The Moonlight moon", ["moon", "moonlight"]) == [("The ", False), ("Moonlight", True),
                                                                    (" ", False), ("moon", True)]
    cut = snippet("a" * 100 + "月" + "b" * 100, ["月"], width=30)
    assert cut[0] == ("…" + "a" * 10, False) and cut[1] == ("月", True) and cut[2][0].endswith("…")
    assert sum(len(t) for t, _ in cut) == 30 + 2


def test_page_escapes_corpus_text_and_carries_explanations(evaluated):
    html = (evaluated / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and html.count("<script") == 2
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    assert re.search(r"https?://", html) is None  # nothing fetched from the network
    recs = [json.loads(line) for line in (evaluated / "recommendations.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {(r["protocol"], r["scorer"], r["image"]) for r in recs} == {
        (p, s, q) for p in ("photo", "oracle") for s in ("ne", "km") for q in ("q1", "q2", "q3")}
    km_q1 = next(r for r in recs if (r["protocol"], r["scorer"], r["image"]) == ("oracle", "km", "q1"))
    assert km_q1["songs"] == ["s1", "s5", "s7"] and km_q1["details"][0] == {"matched": {"月": 3}}
    page = build_page(evaluated)
    assert [c.key for c in page.columns] == ["photo/ne", "photo/km", "oracle/ne", "oracle/km"]
    assert list(page.tables) == ["photo", "oracle"] and len(page.cards) == 3
    ne = next(cc for cc in page.cards[0].columns if cc.column.key == "photo/ne")
    ne_q1 = next(r for r in recs if (r["protocol"], r["scorer"], r["image"]) == ("photo", "ne", "q1"))
    # each neighbour lists the ranks of the songs it brought, as the NE explanations say
    brought = {}
    for rank, d in enumerate(ne_q1["details"], start=1):
        brought.setdefault(d["image"], []).append(rank)
    assert {nb.image: nb.songs for nb in ne.neighbours} == brought
    km = next(cc for cc in page.cards[0].columns if cc.column.key == "oracle/km")
    assert [t for t, m in km.songs[0].snippet if m] == ["月", "月", "月"]  # s1: 明月几时有 月光 月下
    hits = {(r["protocol"], r["scorer"], r["image"]): r["hits"] for r in map(
        json.loads, (evaluated / "per_query.jsonl").read_text(encoding="utf-8").splitlines()) if r["n"] == 0}
    assert [s.hits[0] == "1" for s in ne.songs] == hits[("photo", "ne", "q1")]
    html = (evaluated / "report.html").read_text(encoding="utf-8")
    assert "protocol: oracle" in html and 'data-col="oracle/km"' in html


def test_thumbnails_are_small_jpegs_next_to_the_page(evaluated):
    page = build_page(evaluated)
    thumbs = {c.thumb for c in page.cards} | {nb.thumb for c in page.cards for cc in c.columns
                                              for nb in cc.neighbours}
    assert None not in thumbs and all(t.startswith("report_assets/thumbs/") for t in thumbs)
    for t in thumbs:
        with Image.open(evaluated / t) as im:
            assert im.format == "JPEG" and max(im.size) <= 128


def test_a_report_without_protocols_is_one_unnamed_protocol(evaluated, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(evaluated, run)
    doc = json.loads((run / "report.json").read_text(encoding="utf-8"))
    photo = doc.pop("protocols")["photo"]
    doc["scorers"], doc["paired_tests"] = photo["scorers"], photo["paired_tests"]
    doc["scorers"]["km"]["hit_rate@3"]["5"] = 0.123
    (run / "report.json").write_text(json.dumps(doc), encoding="utf-8")
    for name in ("per_query.jsonl", "recommendations.jsonl"):  # rows without a protocol field (older runs)
        rows = [json.loads(line) for line in (run / name).read_text(encoding="utf-8").splitlines()]
        (run / name).write_text("".join(json.dumps({k: v for k, v in r.items() if k != "protocol"}) + "\n"
                                        for r in rows if r["protocol"] == "photo"), encoding="utf-8")
    page = build_page(run)
    assert [c.key for c in page.columns] == ["ne", "km"] and list(page.tables) == [""]
    assert next(r for r in page.tables[""] if r.n == "5").cells[1]["hit"] == "0.123"
    assert all(len(c.columns) == 2 for c in page.cards)
    assert all(cc.neighbours for c in page.cards for cc in c.columns if cc.column.key == "ne")
    html = write_html_report(run).read_text(encoding="utf-8")
    assert "protocol:" not in html and 'data-col="km"' in html


def test_cli_report_regenerates_the_page_and_names_bad_input(evaluated, tmp_path, capsys):
    (evaluated / "report.html").unlink()
    assert main(["report", "--run", str(evaluated)]) == 0
    assert "report.html" in capsys.readouterr().out and (evaluated / "report.html").is_file()
    assert main(["report", "--run", str(tmp_path)]) == 2
    assert "report.json: evaluation report not found" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("report.json", "run.json"):
        (bad / f).write_bytes((evaluated / f).read_bytes())
    (bad / "per_query.jsonl").write_text('{"scorer": "ne"}\nnot json\n', encoding="utf-8")
    assert main(["report", "--run", str(bad)]) == 2
    assert "per_query.jsonl:2: malformed JSON" in capsys.readouterr().err


def test_page_warns_when_queries_cannot_separate_scorers(evaluated):
    """3 query images: far too few keyword sets; the page shows the warning, micro/macro and catalogue coverage."""
    page = build_page(evaluated)
    d = page.diagnostics["diversity"]
    assert d["queries"] == 3 and d["warning"]
    html = (evaluated / "report.html").read_text(encoding="utf-8")
    assert 'id="diversity-warning"' in html and f"{d['distinct_keyword_sets']} distinct keyword sets" in html
    assert 'id="macro"' in html and "micro / macro" in html
    doc = json.loads((evaluated / "report.json").read_text(encoding="utf-8"))
    cov = doc["diagnostics"]["catalogue_coverage"]["photo"]["km"]
    assert doc["catalogue_songs"] > 0 and 0 < cov["distinct_songs"] <= doc["catalogue_songs"]
    assert [c["distinct"] for c in page.diagnostics["coverage"]][1] == cov["distinct_songs"]
