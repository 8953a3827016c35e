"""Selection that weighs an image's reach by the edge's confidence (graph.confidence, graph.vocabulary.greedy_cover)."""
from __future__ import annotations

import heapq
import random
from collections import Counter

import pytest

from graph import edge_model
from graph.bridge import Bridge
from graph.captions import image_keywords
from graph.confidence import edge_confidence, kind_only
from graph.records import Image
from graph.vocabulary import greedy_cover


def _unweighted_greedy(song_sets, image_sets, n_songs, n_images, num, song_weight, repeat_discount, tie=None):
    """greedy_cover as it was before confidences (main at a7ca166, verbatim but for names): the reference for
    'confidences of 1 pick exactly what the unweighted rule picked'."""
    ws, wi = song_weight / max(n_songs, 1), (1.0 - song_weight) / max(n_images, 1)
    cs: Counter[int] = Counter()
    ci: Counter[int] = Counter()
    tie = tie or {}

    def gain(w):
        return (ws * sum(repeat_discount ** cs[s] for s in song_sets.get(w, ()))
                + wi * sum(repeat_discount ** ci[i] for i in image_sets.get(w, ())))

    words = sorted(set(song_sets) | set(image_sets))
    heap = [(-gain(w), -tie.get(w, 0.0), w) for w in words]
    heapq.heapify(heap)
    picked, fresh = [], set(words)
    while heap and len(picked) < num:
        g, t, w = heapq.heappop(heap)
        if w not in fresh:
            heapq.heappush(heap, (-gain(w), t, w))
            fresh.add(w)
            continue
        if -g <= 0.0:
            break
        picked.append((w, -g))
        cs.update(song_sets.get(w, ()))
        ci.update(image_sets.get(w, ()))
        fresh = set()
    return picked


def random_instance(rng: random.Random):
    """A seeded random selection instance: (songs, tagged images, words, word -> songs, word -> image -> confidence,
    song weight, repeat discount)."""
    n_s, n_i = rng.randint(5, 30), rng.randint(3, 15)
    words = [f"w{j}" for j in range(rng.randint(2, 10))]
    song_sets = {w: set(rng.sample(range(n_s), rng.randint(0, n_s // 2))) for w in words}
    image_conf = {w: {i: rng.choice([0.0, 0.2, 0.5, 0.75, 1.0, rng.random()])
                      for i in rng.sample(range(n_i), rng.randint(1, n_i // 2 + 1))} for w in words}
    sw, beta = rng.choice([0.0, 1 / 3, 0.5]), rng.choice([0.0, 0.25, 0.5])
    return n_s, n_i, words, song_sets, image_conf, sw, beta


def _objective(song_sets, image_conf, chosen, n_s, n_i, sw, beta):
    """The weighted objective from scratch: an item is worth sum_k beta**k * (its k-th largest confidence)."""
    def part(reach, n):
        per: dict[int, list[float]] = {}
        for w in chosen:
            for k, c in reach.get(w, {}).items():
                per.setdefault(k, []).append(c)
        return sum(beta ** j * c for cs in per.values() for j, c in enumerate(sorted(cs, reverse=True))) / n
    songs = {w: dict.fromkeys(s, 1.0) for w, s in song_sets.items()}
    return sw * part(songs, n_s) + (1 - sw) * part(image_conf, n_i)


def test_a_word_reached_strongly_beats_one_reached_weakly_by_more_images():
    """Known answer: 'weak' reaches 10 of 20 images at confidence 0.3, 'strong' 6 at 1.0, neither is in a song.
    Unweighted, 'weak' wins (10 images > 6); weighed by confidence, 'strong' wins (6.0 > 3.0), and its gain is
    6/20; the second pick, 'weak', then adds its 4 images of its own at 0.3 and its 6 shared ones at 0.25 * 0.3."""
    weak = {i: 0.3 for i in range(10)}
    strong = {i: 1.0 for i in range(4, 10)}
    assert [w for w, _ in greedy_cover({}, {"weak": set(weak), "strong": set(strong)}, 1, 20, 1, 0.0, 0.25)] \
        == ["weak"]
    picked = greedy_cover({}, {"weak": weak, "strong": strong}, 1, 20, 2, 0.0, 0.25)
    assert [w for w, _ in picked] == ["strong", "weak"]
    assert picked[0][1] == pytest.approx(6 / 20)
    # 'weak' on an image 'strong' covers: 0.25 * 0.3 (second place); on the 4 others: 0.3
    assert picked[1][1] == pytest.approx((4 * 0.3 + 6 * 0.25 * 0.3) / 20)
    # a stronger edge after a weaker one takes first place: the weaker moves to second
    first = greedy_cover({}, {"a": {0: 0.4}, "b": {0: 0.9}}, 1, 1, 2, 0.0, 0.5)
    assert [w for w, _ in first] == ["b", "a"] and first[1][1] == pytest.approx(0.5 * 0.4)
    late = greedy_cover({}, {"a": {0: 0.4}, "b": {0: 0.9}, "c": {1: 0.45}}, 1, 2, 3, 0.0, 0.5)
    assert [w for w, _ in late] == ["b", "c", "a"]


def test_confidences_of_one_pick_exactly_what_the_unweighted_rule_picked():
    """On 200 seeded random instances, image reach as {image: 1.0} gives the same words and bit-identical gains as
    the set, and both equal the unweighted greedy_cover of main (copied above)."""
    rng = random.Random(8)
    for case in range(200):
        n_s, n_i = rng.randint(5, 40), rng.randint(3, 20)
        words = [f"w{j}" for j in range(rng.randint(2, 15))]
        song_sets = {w: set(rng.sample(range(n_s), rng.randint(0, n_s // 2))) for w in words}
        image_sets = {w: set(rng.sample(range(n_i), rng.randint(1, n_i // 2 + 1))) for w in words}
        sw, beta = rng.choice([0.0, 1 / 3, 0.5, 1.0]), rng.choice([0.0, 0.25, 0.5])
        tie = {w: float(len(song_sets[w])) for w in words}
        num = rng.randint(1, len(words))
        ref = _unweighted_greedy(song_sets, image_sets, n_s, n_i, num, sw, beta, tie)
        ones = {w: dict.fromkeys(s, 1.0) for w, s in image_sets.items()}
        assert greedy_cover(song_sets, ones, n_s, n_i, num, sw, beta, tie) == ref, case
        assert greedy_cover(song_sets, image_sets, n_s, n_i, num, sw, beta, tie) == ref, case


def test_weighted_greedy_picks_the_max_gain_word():
    """On 80 seeded random instances with random confidences: each pick has the largest marginal gain of the
    objective computed from scratch, and the reported gain is that gain (CELF is exact: the objective is
    submodular)."""
    rng = random.Random(9)
    for case in range(80):
        n_s, n_i, words, song_sets, image_conf, sw, beta = random_instance(rng)
        picked = greedy_cover(song_sets, image_conf, n_s, n_i, len(words), sw, beta)
        chosen: list[str] = []
        for w, g in picked:
            base = _objective(song_sets, image_conf, chosen, n_s, n_i, sw, beta)
            gains = {v: _objective(song_sets, image_conf, chosen + [v], n_s, n_i, sw, beta) - base
                     for v in words if v not in chosen}
            assert gains[w] == pytest.approx(max(gains.values()), abs=1e-12), (case, w)
            assert g == pytest.approx(gains[w], abs=1e-12)
            chosen.append(w)


def test_edge_confidence_known_values():
    assert edge_confidence(0.62, 1, None) == 1.0  # the unweighted rule
    assert edge_confidence(0.8, 1, 0.5) == pytest.approx(0.6)
    assert edge_confidence(1.6, 2, 0.5) == pytest.approx(0.6)  # per text: a repeated tag is no surer
    assert edge_confidence(0.8, 1, 0.5, kind=True, kind_factor=0.75) == pytest.approx(0.2)
    assert edge_confidence(0.5, 1, 0.5) == 0.0 and edge_confidence(3.0, 2, 0.5) == 1.0  # clipped to [0, 1]


@pytest.fixture(scope="module")
def real() -> Bridge:
    return Bridge()


def test_kind_only_names_the_edges_a_hypernym_alone_draws(real):
    """On the real CC-CEDICT and WordNet: a 'kingfisher' tag reaches 鸟 only as a kind (kingfisher -> coraciiform
    bird -> bird), a 'bird' tag reaches 鸟 as its own sense; an image whose tags both reach 鸟, one as a kind, is no
    kind-only edge. (Until session 9 the kind example was 'pattern' -> design -> decoration -> 饰; a rarer sense of
    'pattern' that no other word names draws no kinds now: graph.wordnet_senses.WordNetSenses.draws_kinds.)"""
    vocab = frozenset({"饰", "鸟"})
    # the edge model (session 13) gives a lone 'kingfisher' 0.69 and drops it: a one-word description gives the text
    # encoder little to relate 鸟 to; with a second tag ('animal') it gives 0.85 and keeps it
    alone = Image("p", "p.jpg", tags=("kingfisher",), caption="", language="en", tag_language="en")
    weights, why = image_keywords(alone, real, vocab, model=False)
    assert "鸟" in weights and kind_only(alone, real, why) == {"鸟"}
    assert "鸟" not in image_keywords(alone, real, vocab)[0]
    two = Image("t", "t.jpg", tags=("kingfisher", "animal"), caption="", language="en", tag_language="en")
    weights, why = image_keywords(two, real, vocab)
    assert "鸟" in weights and kind_only(two, real, why) == {"鸟"}
    assert "饰" not in image_keywords(Image("q", "q.jpg", tags=("pattern",), caption="", language="en",
                                            tag_language="en"), real, vocab)[0]
    bird = Image("b", "b.jpg", tags=("bird",), caption="", language="en", tag_language="en")
    weights, why = image_keywords(bird, real, vocab)
    assert "鸟" in weights and kind_only(bird, real, why) == set()
    both = Image("k", "k.jpg", tags=("kingfisher", "bird"), caption="", language="en", tag_language="en")
    weights, why = image_keywords(both, real, vocab)
    assert "鸟" in weights and kind_only(both, real, why) == set()


def test_select_keywords_counts_an_image_by_its_edges_confidence(tmp_path):
    """Wiring, on the mini CC-CEDICT: 5 images tagged 'vessel' reach 船 through its second sense (weight 0.75,
    confidence (0.75 - 0.5) / 0.5 = 0.5), 3 tagged 'horse' reach 马 at 1.0. Counting images only, the unweighted
    rule picks 船 (5 images > 3) and the default picks 马 (3.0 > 2.5), with gain 3/8 of the 8 tagged images."""
    from graph.bridge import parse_cedict
    from graph.corpus import load_corpus
    from graph.vocabulary import select_keywords
    from tests.bridge_fixtures import write_mini_cedict
    from tests.conftest import make_corpus

    songs = [{"id": f"s{i:02d}", "title": "曲", "lyrics": "江上一只船。" if i < 12 else "一匹马。" if i < 22 else "客愁新。",
              "language": "zh", "popularity": float(i)} for i in range(30)]
    images = [{"id": f"i{k}", "file": f"images/i{k}.png", "tags": [t], "tag_language": "en"}
              for k, t in enumerate(["vessel"] * 5 + ["horse"] * 3)]
    root = make_corpus(tmp_path / "c", songs=songs, images=images)
    (root / "keywords.txt").unlink()
    (root / "lexicon.tsv").unlink()
    corpus = load_corpus(root)
    # the hand-set rule (edge model off); the model's P: the test below
    bridge = Bridge(cedict=parse_cedict(write_mini_cedict(tmp_path / "cedict.txt")), edge_model=False)
    args = dict(num=1, min_images=3, min_songs=3, max_song_share=0.5, bridge=bridge, progress=False, song_weight=0.0)
    assert select_keywords(corpus, confidence_floor=None, **args).keywords == ["船"]
    sel = select_keywords(corpus, **args)
    assert sel.keywords == ["马"] and sel.rows[0].gain == pytest.approx(3 / 8)
    assert "confidence_floor=0.5 kind_confidence=0.75 (edge model off)" in sel.header()[1]


def test_select_keywords_counts_an_image_by_the_edge_models_probability(tmp_path):
    """With the edge model on (the default), an image counts for a word by the model's P(right) of its edge, and
    the edges it drops count nothing: the pick's gain is the sum of P over the images it reaches / tagged images."""
    from graph.bridge import parse_cedict
    from graph.captions import image_keywords
    from graph.corpus import load_corpus
    from graph.vocabulary import select_keywords
    from tests.bridge_fixtures import write_mini_cedict
    from tests.conftest import make_corpus

    songs = [{"id": f"s{i:02d}", "title": "曲", "lyrics": "一匹马。" if i < 12 else "客愁新。", "language": "zh",
              "popularity": float(i)} for i in range(30)]
    images = [{"id": f"i{k}", "file": f"images/i{k}.png", "tags": t.split("|"), "tag_language": "en"}
              for k, t in enumerate(["horse"] * 3 + ["horse|animal|farm"] * 2 + ["cat"])]
    root = make_corpus(tmp_path / "c", songs=songs, images=images)
    (root / "keywords.txt").unlink()
    (root / "lexicon.tsv").unlink()
    corpus = load_corpus(root)
    bridge = Bridge(cedict=parse_cedict(write_mini_cedict(tmp_path / "cedict.txt")))
    assert bridge.edge_model  # the default
    sel = select_keywords(corpus, num=1, min_images=3, min_songs=3, max_song_share=0.5, bridge=bridge,
                          progress=False, song_weight=0.0)
    probs: list[float] = []
    for img in corpus.images:
        got: dict[str, float] = {}
        image_keywords(img, bridge, frozenset({"马"}), probs=got)
        probs += [got["马"]] if "马" in got else []
    assert sel.keywords == ["马"] and len(probs) == 5 and all(0.5 < p < 1 for p in probs)
    # keywords.txt says how confidence was set: the model's P and its drop threshold, not the unused constants
    assert f"confidence=edge model P(right), edges below {edge_model.load_model().threshold:.2f} dropped" in sel.header()[1]
    assert "confidence_floor" not in sel.header()[1]
    assert sel.rows[0].gain == pytest.approx(sum(probs) / 6, abs=1e-4)  # the row rounds to 4 places
