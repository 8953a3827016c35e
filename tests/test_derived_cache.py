"""What commands derive from a run is kept in it (evaluation.stages.derived, RunDir's rundir_derived): an LSTM
scorer's encoded lyrics and the catalogue's content-word document frequencies. Read back when the key matches (the
expensive function is not called), recomputed when an input changed or the file is damaged (with a message naming
it), never a stale read; an added song is scored by the LSTM scorers exactly as a cold load scores it."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.live import edges as edges_mod
from engine.lstm.scoring import LyricIndex
from engine.lstm.train import LyricTagModel
from evaluation.stages import catalogue, derived
from evaluation.stages.rundir import RunDir
from tests.conftest import own_cache
from tests.live_run import make_live_corpus

torch.set_num_threads(1)
QUIET = lambda _: None  # noqa: E731
LSTM = {"epochs": 3, "hidden": 8, "wv_method": "ppmi", "wv_dim": 8, "device": "cpu"}
# rarer lyric words than live_run's filler (each in 2-3 of 48 songs): build-graph links them as word vertices
RARE = ["松树", "竹林", "白云", "晚霞", "城楼", "古道", "西风", "瘦马", "小桥", "流水", "夕阳", "天涯", "杨柳", "寒蝉",
        "骤雨", "烟波", "暮霭", "江南", "塞北", "边关", "战马", "烽火", "家书", "故乡"]
NEW = {"id": "moon-new", "title": "新月", "artist": "me", "lyrics": "明月照船头，月下月光，白云晚霞，故乡。",
       "language": "zh", "popularity": 99.0}


@pytest.fixture(scope="module")
def base(tmp_path_factory, dictionary_cache):
    """A real small run: build-graph, LINE (C++ kernel), features (test backbone), lstm and lstm-base fitted."""
    import tests.serve_main  # noqa: F401 - registers the test backbone
    from evaluation.stages import pipeline
    from tests.serve_main import BACKBONE

    tmp = tmp_path_factory.mktemp("derived")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMG2SONG_CACHE", str(own_cache(tmp / "cache", dictionary_cache)))
        corpus = make_live_corpus(tmp / "corpus")
        rows = [json.loads(x) for x in (corpus / "songs.jsonl").read_text(encoding="utf-8").splitlines()]
        for i, r in enumerate(rows):
            r["lyrics"] += f"{RARE[i % len(RARE)]}，{RARE[(7 * i + 3) % len(RARE)]}。"
        (corpus / "songs.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                            encoding="utf-8")
        run = tmp / "run"
        pipeline.build_graph(corpus, run, holdout=0.15, seed=0, echo=QUIET)
        pipeline.train_embeddings(run, echo=QUIET, dim=16, samples=100_000, threads=1, progress=False)
        pipeline.features(run, backbone=BACKBONE, echo=QUIET)
        pipeline.fit_scorers(run, ["lstm", "lstm-base", "ne"], params={"lstm": LSTM, "lstm-base": LSTM}, echo=QUIET)
        yield tmp, run


@pytest.fixture
def run(base, tmp_path, monkeypatch):
    """A fresh copy of the run for each test (the corpus is shared, read-only)."""
    import shutil

    monkeypatch.setenv("IMG2SONG_CACHE", str(base[0] / "cache"))
    dst = tmp_path / "run"
    shutil.copytree(base[1], dst)
    return RunDir(dst)


@pytest.fixture
def encodes(monkeypatch):
    """Counts the LSTM's lyric encodings (the real ones run) by number of songs."""
    calls: list[int] = []
    real = LyricTagModel.song_states

    def counted(self, song_tokens, *a, **k):
        calls.append(len(song_tokens))
        return real(self, song_tokens, *a, **k)

    monkeypatch.setattr(LyricTagModel, "song_states", counted)
    return calls


def tags_for(scorer, n: int = 4) -> np.ndarray:
    return np.random.default_rng(7).random((n, len(scorer.tag_vocab_))).astype(np.float32)


@pytest.mark.parametrize("name", ["lstm", "lstm-base"])
def test_the_lyric_index_is_read_back_not_encoded_again_and_scores_identically(run, encodes, name):
    from engine.scorers.persist import load_scorer

    run.lyric_index(name).unlink()  # fit-scorers saved it: start without
    said: list[str] = []
    first = run.load_scorer(name, said.append)
    assert len(encodes) == 1 and str(run.lyric_index(name)) in said[0] and "computed" in said[0]
    said.clear()
    second = run.load_scorer(name, said.append)
    assert len(encodes) == 1 and said == []  # the hit: not encoded again, nothing to say
    cold = load_scorer(run.scorer_dir(name))
    tags = tags_for(cold)
    want = cold.lyric_index().score(tags)  # encoded now, the way a load did before
    assert len(encodes) == 2
    for got in (first, second):
        np.testing.assert_array_equal(got.lyric_index().score(tags), want)
        assert [r.song_id for r in got.recommend_batch([_q(tags[0])], 5)[0]] == \
            [r.song_id for r in cold.recommend_batch([_q(tags[0])], 5)[0]]
    assert not [p for p in run.derived_dir.iterdir() if p.name.startswith(".") or ".tmp" in p.name]


def _q(tag):
    from engine.scorers.base import Query

    return Query(tag_probs=tag)


def test_fit_scorers_keeps_the_index_it_built(run, encodes):
    assert run.lyric_index("lstm").is_file() and run.lyric_index("lstm-base").is_file()
    run.load_scorer("lstm")
    assert encodes == []


def test_a_changed_input_recomputes_never_a_stale_read(run, encodes):
    from engine.scorers.persist import load_scorer

    sc = run.load_scorer("lstm")
    assert encodes == []
    key = derived.lyric_index_key(sc)
    # other lyric tokens (a retokenised catalogue) or other weights: another key, so the saved index is not read
    other = load_scorer(run.scorer_dir("lstm"))
    other.song_tokens_ = [list(reversed(t)) for t in other.song_tokens_]
    assert derived.lyric_index_key(other) != key
    said: list[str] = []
    derived.attach_lyric_index(run, "lstm", other, said.append)
    assert encodes == [len(other.song_tokens_)] and "computed" in said[0]
    fresh = LyricIndex(other.model_, other.song_tokens_)
    np.testing.assert_array_equal(other.lyric_index().score(tags_for(other)), fresh.score(tags_for(other)))
    heavier = load_scorer(run.scorer_dir("lstm"))
    with torch.no_grad():
        next(heavier.model_.model_.lstm1.parameters()).mul_(1.5)
    assert derived.lyric_index_key(heavier) not in (key, derived.lyric_index_key(other))
    assert run.load_lyric_index("lstm", heavier.model_, derived.lyric_index_key(heavier)) is None  # stale: None
    # and the code that encodes is in the key: the module sources' signature
    assert "code_signature(code_modules(\"engine.lstm.scoring\"))" in Path(derived.__file__).read_text()


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage", "wrong-shape", "nan"])
def test_a_damaged_index_is_encoded_again_with_a_message_naming_it(run, encodes, damage):
    path = run.lyric_index("lstm")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "garbage":
        path.write_bytes(b"not a zip at all" * 50)
    else:
        z = dict(np.load(path))
        if damage == "wrong-shape":
            z["lengths"] = z["lengths"][:-1]
        else:
            z["states"][0, 0] = np.nan
        np.savez(path, **z)
    said: list[str] = []
    sc = run.load_scorer("lstm", said.append)
    assert len(encodes) == 1
    assert str(path) in said[0] and "computing the LSTM lyric index of scorer lstm again" in said[0]
    assert "saved to" in said[1]
    fresh = LyricIndex(sc.model_, sc.song_tokens_)
    np.testing.assert_array_equal(sc.lyric_index().score(tags_for(sc)), fresh.score(tags_for(sc)))
    encodes.clear()
    run.load_scorer("lstm")  # rewritten whole: read back
    assert encodes == []


def test_a_run_that_cannot_be_written_still_gets_its_index_and_frequencies(run, encodes, monkeypatch):
    """The writes fail (a read-only file system): the values are used, unsaved, and the message says so."""
    run.lyric_index("lstm").unlink()

    def refuse(*a, **k):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(RunDir, "save_lyric_index", refuse)
    monkeypatch.setattr(RunDir, "save_content_df", refuse)
    said: list[str] = []
    sc = run.load_scorer("lstm", said.append)
    assert len(encodes) == 1 and "not saved (" in said[0] and "Read-only" in said[0]
    assert len(sc.lyric_index()) == len(sc.song_ids_)
    df = derived.cached_content_df(run, run.load_corpus().songs, said.append)
    assert "not saved (" in said[1] and df == edges_mod.content_df(run.load_corpus().songs)


def _songs_file(tmp: Path, rows: list[dict]) -> Path:
    p = tmp / "new.jsonl"
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return p


def test_an_added_song_is_scored_by_the_lstm_scorers_as_a_cold_load_scores_it(run, tmp_path, encodes):
    cat = catalogue.add(run, _songs_file(tmp_path, [NEW]), echo=QUIET)
    assert {n: cat.notes[n] for n in ("lstm", "lstm-base")} == {"lstm": "updated", "lstm-base": "updated"}
    assert encodes == []  # the base came from the saved index; the new lyric is encoded when first scored
    warm = catalogue._open(run, QUIET)[4]
    for name in ("lstm", "lstm-base"):
        run.lyric_index(name).unlink()
    cold = catalogue._open(run, QUIET)[4]  # a cold load: the base encoded again, then the journal replayed
    assert encodes == [48, 48]
    for name in ("lstm", "lstm-base"):
        w, c = warm.scorers[name], cold.scorers[name]
        assert w.song_ids_[-1] == "moon-new" and w.song_ids_ == c.song_ids_ and len(w.song_ids_) == 49
        tags = tags_for(w, 6)
        encodes.clear()
        got = w.lyric_index().score(tags)
        assert encodes == [1]  # the added song alone
        np.testing.assert_array_equal(got, c.lyric_index().score(tags))  # exact
        # and the appended rows are what encoding the whole catalogue at once gives (up to float rounding)
        tokens = w.song_tokens_ + w.lyric_index().tokenize([catalogue.read_songs(_songs_file(tmp_path, [NEW]))[0]])
        whole = LyricIndex(w.model_, tokens).score(tags)
        np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-6)
        ranked = [r.song_id for r in w.recommend_batch([_q(tags[0])], 49)[0]]
        assert "moon-new" in ranked and len(ranked) == 49  # ranked with the rest, not filtered out
    # removing it takes it out of both scorers' answers exactly
    cat = catalogue.remove(run, ["moon-new", "s000"], echo=QUIET)
    for name in ("lstm", "lstm-base"):
        sc = cat.scorers[name]
        assert "moon-new" not in sc.song_ids_ and "s000" not in sc.song_ids_ and len(sc.lyric_index()) == 47
        tags = tags_for(sc, 3)
        np.testing.assert_allclose(sc.lyric_index().score(tags), LyricIndex(sc.model_, sc.song_tokens_[1:]).score(tags),
                                   rtol=1e-5, atol=1e-6)
        assert [r.song_id for r in sc.recommend_batch([_q(tags[0])], 47)[0]][0] != "s000"


@pytest.fixture
def tokenises(monkeypatch):
    """Counts content_df passes over a catalogue (the real ones run)."""
    calls: list[int] = []
    real = edges_mod.content_df

    def counted(songs):
        calls.append(len(songs))
        return real(songs)

    monkeypatch.setattr(edges_mod, "content_df", counted)
    return calls


def _folder(run: RunDir, echo=QUIET):
    r, corpus, data, scorers, _ = catalogue._open(run, QUIET, scorers={})
    return catalogue.make_folder(r, data, corpus, scorers, echo)


def test_word_df_is_read_back_and_equals_a_cold_computation_after_an_add(run, tmp_path, tokenises):
    said: list[str] = []
    cold = _folder(run, said.append).edger
    assert not run.content_df.is_file()  # computed on first need only
    want = cold.word_df()
    assert tokenises == [48] and run.content_df.is_file() and any(str(run.content_df) in x for x in said)
    catalogue.add(run, _songs_file(tmp_path, [NEW]), echo=QUIET)  # uses word_df: read back
    assert tokenises == [48]
    again = _folder(run).edger
    assert again.word_df() == want and tokenises == [48]
    # a cold computation, by the code before the cache (each song's filtered lyric words), after the add
    ref: Counter[str] = Counter()
    for s in again.songs:
        ref.update(w for w in again._lyric_words(s) if w in again.words)
    assert want == ref and len(want) >= 10
    assert not set(want) & {"moon-new"} and cold.song(catalogue.read_songs(_songs_file(tmp_path, [NEW]))[0]).words
    assert again.song(catalogue.read_songs(_songs_file(tmp_path, [NEW]))[0]).words == \
        cold.song(catalogue.read_songs(_songs_file(tmp_path, [NEW]))[0]).words


def test_word_df_recomputes_for_other_lyrics_and_for_a_damaged_file(run, tokenises):
    songs = run.load_corpus().songs
    key = derived.content_df_key(songs)
    first = derived.cached_content_df(run, songs)
    assert tokenises == [48]
    import dataclasses

    changed = [dataclasses.replace(songs[0], lyrics=songs[0].lyrics + "明月")] + list(songs[1:])
    assert derived.content_df_key(changed) != key and derived.content_df_key(list(reversed(songs))) != key
    assert run.load_content_df(derived.content_df_key(changed)) is None  # stale: never read
    second = derived.cached_content_df(run, changed)
    assert tokenises == [48, 48] and second == edges_mod.content_df(changed)
    tokenises.clear()
    run.content_df.write_bytes(run.content_df.read_bytes()[:100])  # truncated
    said: list[str] = []
    assert derived.cached_content_df(run, changed, said.append) == second and tokenises == [48]
    assert str(run.content_df) in said[0] and "computing the content-word document frequencies again" in said[0]
    assert first != second
