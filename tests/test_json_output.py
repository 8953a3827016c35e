"""`recommend --json` and `evaluate --json`: one JSON document on stdout that equals what the text and the files say."""
from __future__ import annotations

import json
import textwrap

from evaluation.app.cli import main
from tests.scorer_contract import make_run


def test_recommend_json_is_one_document_with_the_same_songs_as_the_text(tmp_path, capsys):
    run = make_run(tmp_path)
    assert main(["recommend", "i2", "q1", "--run", str(run), "--scorer", "km", "--k", "3"]) == 0
    text = capsys.readouterr().out
    assert main(["recommend", "i2", "q1", "--run", str(run), "--scorer", "km", "--k", "3", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # stdout is exactly one JSON document
    assert doc["scorer"] == "km" and doc["k"] == 3 and [r["image"] for r in doc["results"]] == ["i2", "q1"]
    for result in doc["results"]:
        assert [s["rank"] for s in result["songs"]] == list(range(1, len(result["songs"]) + 1))
        assert len(result["songs"]) == 3
        assert all({"id", "title", "artist", "first_line", "score", "explanation"} <= set(s) for s in result["songs"])
        for s in result["songs"]:  # the text prints the same songs, in the same order
            assert f"{s['rank']:3d}. {s['title']} - " in text
    assert "why:" not in captured.out  # no text mixed into the document


def test_evaluate_json_equals_the_written_report(tmp_path, capsys):
    run = make_run(tmp_path)
    config = tmp_path / "exp.toml"
    config.write_text(textwrap.dedent("""
        k = 5
        ns = [0, 5]
        n_boot = 50
        protocols = ["photo"]
        [scorers.ne]
        [scorers.km]
    """), encoding="utf-8")
    assert main(["evaluate", "--run", str(run), "--config", str(config), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    written = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in doc.items() if k != "written"} == written
    assert set(doc["scorers"]) == {"ne", "km"} and doc["k"] == 5
    assert str(run / "report.json") in doc["written"]
