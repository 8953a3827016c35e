"""Attention bi-LSTM: parity of the unpacked bi-LSTM, attention masking, frozen vectors, learning, checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from engine.lstm import (
    LyricTagModel,
    TagAttentionBiLSTM,
    WordVectors,
    cooccurrence_network,
    encode_lyrics,
    keyword_pairs,
    pair_loss,
    top_tag_words,
    train_word_vectors,
)
from engine.lstm.model import BiLSTM, top_tags

torch.set_num_threads(1)

PAPER = {"skip": False, "output": "mlp", "match": False}  # the network as the paper describes it


def test_bilstm_matches_packed_torch_lstm():
    torch.manual_seed(0)
    m = BiLSTM(5, 4)
    ref = torch.nn.LSTM(5, 4, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(ref, n).copy_(getattr(m.fwd, n))
            getattr(ref, n + "_reverse").copy_(getattr(m.bwd, n))
    x, lens = torch.randn(3, 7, 5), torch.tensor([7, 3, 1])
    states, final = m(x, lens)
    out, (h, _) = ref(pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False))
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=7)
    torch.testing.assert_close(states, out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(final, torch.cat([h[0], h[1]], 1), atol=1e-6, rtol=1e-5)
    assert states[1, 3:].abs().sum() == 0  # padding stays zero


def _model(attention=True, pooling="avg", readout="pool", **arch):
    torch.manual_seed(1)
    wv = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    wv[0] = 0
    return TagAttentionBiLSTM(wv, num_tags=6, hidden=5, attention=attention, pooling=pooling, attention_dim=4,
                              mlp_hidden=7, readout=readout, tag_words=np.arange(1, 7), **arch)


def test_match_term_finds_the_tag_word_in_the_lyric():
    """With the additive attention switched off, γ·(x_t·ṽ) alone puts the weight on the step holding the tag
    word; skip makes that word's vector part of the lyric vector, and the tied head scores it on its own tag."""
    m = _model(skip=True, output="tied", match=True)
    wv = torch.zeros(20, 8)
    wv[1:9] = torch.eye(8)  # orthonormal words 1..8: tags are words 1..6
    m.embed.weight.data.copy_(wv)
    m.tag_emb.copy_(wv[1:7])
    with torch.no_grad():
        m.w_ms.weight.zero_()
        m.match_scale.fill_(50.0)
        tok, lens = torch.tensor([[7, 3, 8, 5], [5, 8, 7, 3]]), torch.tensor([4, 4])
        _, s = m(tok, lens, torch.tensor([[3, 0, 0, 0, 0], [3, 0, 0, 0, 0]]))  # the image's top tag: word 3
    assert s[0].argmax() == 1 and s[1].argmax() == 3 and s.max(1).values.min() > 0.99
    states = m.encode_states(tok, lens)
    torch.testing.assert_close(states[0, 1, -8:], wv[3])  # skip: the step's own word vector
    with pytest.raises(ValueError, match="match needs"):
        _model(skip=False, match=True)
    with pytest.raises(ValueError, match="match needs"):
        _model(attention=False, skip=True, match=True)


def test_tied_head_scores_tags_through_their_word_vectors():
    m = _model(skip=True, output="tied")
    z = torch.randn(3, 8)
    with torch.no_grad():
        m.tag_bias.copy_(torch.arange(6.0))
        want = z @ m.embed.weight[1:7].T + torch.arange(6.0)
        m.mlp = torch.nn.Identity()  # head = z·E_tagᵀ + b once the MLP is the identity
        torch.testing.assert_close(m.head(z), want)
    assert not m.tag_emb.requires_grad and "tag_emb" in m.state_dict()


def test_shapes_and_attention_masking():
    m = _model()
    tok = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 0, 0, 0], [9, 0, 0, 0, 0]])
    lens = torch.tensor([5, 2, 1])
    tags = torch.tensor([[1, 2, 3, 0, 0], [4, 4, 4, 4, 4], [0, 0, 0, 0, 0]])
    out, s = m(tok, lens, tags)
    assert out.shape == (3, 6) and s.shape == (3, 5)
    torch.testing.assert_close(s.sum(1), torch.ones(3))
    assert (s[1, 2:] == 0).all() and (s[2, 1:] == 0).all() and (s[0] > 0).all()
    assert not torch.allclose(s[0], torch.full((5,), 0.2))  # the image actually moves the weights
    # padding beyond a row's length does not change its output
    out2, _ = m(torch.cat([tok, torch.zeros(3, 4, dtype=torch.long)], 1), lens, tags)
    torch.testing.assert_close(out, out2, atol=1e-6, rtol=1e-5)
    # different tags, different lyric vector (attention variant); baseline ignores them
    o_a, _ = m(tok[:1], lens[:1], torch.tensor([[1, 2, 3, 0, 0]]))
    o_b, _ = m(tok[:1], lens[:1], torch.tensor([[10, 11, 12, 13, 14]]))
    assert not torch.allclose(o_a, o_b)
    b = _model(attention=False)
    ob_a, sb = b(tok[:1], lens[:1], torch.tensor([[1, 2, 3, 0, 0]]))
    ob_b, _ = b(tok[:1], lens[:1], torch.tensor([[10, 11, 12, 13, 14]]))
    torch.testing.assert_close(ob_a, ob_b)
    torch.testing.assert_close(sb, torch.full((1, 5), 0.2))


def test_tag_pooling_average_and_max():
    for pooling in ("avg", "max"):
        m = _model(pooling=pooling)
        tw = torch.tensor([[3, 5, 0, 0, 0]])
        e = m.embed.weight
        want = (e[3] + e[5]) / 2 if pooling == "avg" else torch.maximum(e[3], e[5])
        torch.testing.assert_close(m.tag_vector(tw)[0], want)
    m = _model(pooling="weighted")  # the probe's probabilities weight the top tags; a missing tag weighs nothing
    e = m.embed.weight
    got = m.tag_vector(torch.tensor([[3, 5, 0]]), torch.tensor([[0.6, 0.2, 0.2]]))[0]
    torch.testing.assert_close(got, (0.6 * e[3] + 0.2 * e[5]) / 0.8)
    with pytest.raises(ValueError, match="tag_weights"):
        m.tag_vector(torch.tensor([[3, 5, 0]]))


def test_top_tags_returns_the_probabilities_of_the_top_tag_words():
    probs = np.array([[0.1, 0.5, 0.0, 0.4], [0.0, 0.0, 0.0, 0.0]])
    ids, w = top_tags(probs, np.array([7, 8, 9, 0]), k=3)  # tag 3 has no word vector
    assert ids.tolist() == [[8, 7, 0], [0, 0, 0]]
    np.testing.assert_allclose(w, [[0.5, 0.1, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("readout", ["pool", "lstm"])
def test_gradients_reach_attention_and_lstm_but_not_word_vectors(readout):
    m = _model(readout=readout)
    out, _ = m(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2]), torch.tensor([[1, 2, 0, 0, 0]] * 2))
    pair_loss("mse", torch.rand(2, 6), out).backward()
    assert m.embed.weight.grad is None and not m.embed.weight.requires_grad
    layer2 = (m.lstm2.fwd.weight_ih_l0,) if readout == "lstm" else ()
    for p in (m.W_hm.weight, m.W_vm.weight, m.w_ms.weight, m.lstm1.fwd.weight_ih_l0, m.lstm1.bwd.weight_hh_l0,
              *layer2, m.mlp[0].weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_losses_match_paper_formulas():
    v, l, n = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, 1.0]]), torch.tensor(
        [[0.0, 1.0], [1.0, 0.0]])
    assert pair_loss("mse", v, l).item() == pytest.approx((1 + 1) / 2)
    assert pair_loss("cpl", v, l).item() == pytest.approx(-(1 / np.sqrt(2) + 1) / 2)
    # hinge: max(0, 1 + cos(v,n) - cos(v,l)): row 1: 1 + 0 - 0.7071; row 2: 1 + 0 - 1
    assert pair_loss("mrl", v, l, n).item() == pytest.approx((1 - 1 / np.sqrt(2) + 0) / 2, rel=1e-5)


def test_top_tag_words_skips_tags_without_vectors_and_zero_mass():
    probs = np.array([[0.1, 0.9, 0.5, 0.0, 0.3]])
    ids = np.array([7, 0, 9, 11, 12])  # tag 1 has no vector
    assert top_tag_words(probs, ids, k=4).tolist() == [[9, 12, 7, 0]]


def test_keyword_pairs_caps_and_min_images():
    images = {"a": {"moon": 1.0}, "b": {"moon": 0.5, "rain": 1.0}, "c": {"rain": 1.0}, "d": {"flower": 1.0}}
    songs = {"s1": {"moon": 3.0}, "s2": {"moon": 1.0, "rain": 1.0}, "s3": {"moon": 0.5}, "s4": {"flower": 2.0}}
    ps = keyword_pairs(images, songs, songs_per_keyword=2, images_per_song=2, min_images=2)
    # moon -> s1, s2 (s3 cut by the cap); s2 strength: a 1, b 0.5+1, c 1 -> keeps b, then a or c (a tie)
    assert ps.song_images["s1"] == ["a", "b"] and ps.song_images["s2"][0] == "b"
    assert ps.song_images["s2"][1] in ("a", "c") and set(ps.song_images) == {"s1", "s2"}
    assert ps.counts["songs_below_min_images"] == 1  # s4 has a single image
    assert len(ps.pairs) == 4


def test_keyword_pairs_spread_tied_images_across_songs():
    """Equal strengths: songs of one keyword draw different images (not all the same lowest ids), repeatably."""
    images = {f"i{n:02d}": {"moon": 1.0} for n in range(40)}
    songs = {f"s{n}": {"moon": 1.0} for n in range(8)}
    ps = keyword_pairs(images, songs, songs_per_keyword=8, images_per_song=5, min_images=2)
    assert len(ps.pairs) == 40 and len(ps.images) > 20  # by id every song would keep i00..i04
    assert keyword_pairs(images, songs, 8, 5, 2).pairs == ps.pairs
    assert keyword_pairs(images, songs, 8, 5, 2, seed=1).pairs != ps.pairs


def test_cooccurrence_network_and_encoding():
    net = cooccurrence_network([["a", "b", "c"], ["a", "b"]], window=1, min_count=1)
    w = {tuple(sorted((net.ids[i], net.ids[j]))): x for (i, j), x in zip(net.edges.tolist(), net.weights.tolist())}
    assert w == {("a", "b"): 2.0, ("b", "c"): 1.0}
    wv = WordVectors(["a", "b"], np.eye(2))
    ids, lens, empty = encode_lyrics([["a", "zz", "b", "a"], ["zz"]], wv, max_len=2)
    assert ids.tolist() == [[1, 2], [0, 0]] and lens.tolist() == [2, 1] and empty == 1


def _synthetic(seed=0):
    """6 topics; a song's lyric mixes its topic's words with filler; its images peak on the topic's tag."""
    rng = np.random.default_rng(seed)
    topics = [f"t{k}" for k in range(6)]
    songs = {}
    for s in range(60):
        t = topics[s % 6]
        toks = [t] + [f"{t}w{j}" for j in rng.integers(0, 5, 5)] + [f"f{j}" for j in rng.integers(0, 20, 12)]
        rng.shuffle(toks)
        songs[f"s{s}"] = toks
    images, pairs = {}, []
    for i in range(120):
        v = rng.uniform(0, 0.1, 6).astype(np.float32)
        v[i % 6] = 0.9
        images[f"i{i}"] = v
    for s in range(60):
        for i in rng.choice(np.arange(s % 6, 120, 6), 3, replace=False):
            pairs.append((f"i{i}", f"s{s}"))
    return topics, songs, images, pairs


@pytest.mark.parametrize("attention,arch", [(False, PAPER), (True, PAPER), (False, {}), (True, {}),
                                            (True, {"skip": True, "output": "tied", "match": True})])
def test_training_reduces_loss_and_retrieves_topic(attention, arch, tmp_path):
    topics, songs, images, pairs = _synthetic()
    wv = train_word_vectors(list(songs.values()), dim=12, method="ppmi", min_count=1)
    ck = tmp_path / "m.pt"
    m = LyricTagModel(attention=attention, hidden=12, epochs=25, patience=25, val_fraction=0.0, seed=0,
                      progress=False, device="cpu", checkpoint=ck, **arch)
    m.fit(pairs, songs, images, topics, wv)
    losses = [h["train_loss"] for h in m.history_]
    assert losses[-1] < 0.75 * losses[0]
    q = np.stack([images[f"i{i}"] for i in range(12)])
    sc = m.score(q, [songs[f"s{s}"] for s in range(12)])
    assert sc.shape == (12, 12)
    assert (sc.argmax(1) % 6 == np.arange(12) % 6).mean() >= 0.75
    again = LyricTagModel.load(ck, device="cpu")  # best checkpoint written atomically during fit
    assert {k: getattr(again, k) for k in arch} == arch  # the architecture comes back with the weights
    np.testing.assert_allclose(again.score(q, [songs[f"s{s}"] for s in range(12)]), sc, atol=1e-5)


def test_batched_attention_scoring_equals_pairwise_forward():
    topics, songs, images, pairs = _synthetic(1)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)
    m = LyricTagModel(attention=True, hidden=6, epochs=1, seed=0, progress=False, device="cpu")
    m.fit(pairs, songs, images, topics, wv)
    img = [images[f"i{i}"] for i in (0, 1, 6, 7, 2)]  # i0/i6 share their top tags, i1/i7 too
    img[3] = img[3].copy()
    img[3][5] = 0.95  # i7 now leads with another tag: its own tag set
    lyr = [songs[f"s{s}"] for s in range(7)]
    got = m.cosines(np.stack(img), lyr, batch=5)  # chunks cut across tag sets and songs (song terms apart)
    tok, lens, _ = encode_lyrics(lyr, wv, m.max_len)
    tw = top_tag_words(np.stack(img), m.tag_word_ids_, m.top_k)
    want = np.zeros_like(got)
    with torch.no_grad():
        for i in range(len(img)):
            out, _ = m.model_(torch.as_tensor(tok), torch.as_tensor(lens), torch.as_tensor(tw[[i] * len(lyr)]))
            v = torch.as_tensor(img[i] - m.tag_mean_)[None]  # scores compare centred tag vectors
            want[i] = torch.nn.functional.cosine_similarity(v, out, dim=1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("attention", [False, True])
def test_centred_tags_make_the_shared_prior_irrelevant(attention):
    """Adding one vector to every image's tags (a stronger corpus prior) changes nothing once tags are centred
    on the training pairs' mean; without centring it changes the scores."""
    topics, songs, images, pairs = _synthetic(2)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)
    prior = np.linspace(0.1, 0.6, 6).astype(np.float32)
    shifted = {i: v + prior for i, v in images.items()}
    q = [f"i{i}" for i in range(10)]
    lyr = [songs[f"s{s}"] for s in range(10)]
    scores = {}
    for center in (True, False):
        for name, tags in (("plain", images), ("shifted", shifted)):
            # top_k=6 (every tag): the prior must not change which tag words feed ṽ, only targets and scores;
            # lexical=False: the lexical match reads the raw tag mass, which a shift does change
            m = LyricTagModel(attention=attention, hidden=6, epochs=3, seed=0, progress=False, device="cpu",
                              center=center, top_k=6, lexical=False).fit(pairs, songs, tags, topics, wv)
            scores[center, name] = m.score(np.stack([tags[i] for i in q]), lyr)
        if center:
            np.testing.assert_allclose(m.tag_mean_, np.mean([shifted[i] for i, _ in pairs], 0), atol=0.05)
    np.testing.assert_allclose(scores[True, "plain"], scores[True, "shifted"], atol=1e-4)
    assert np.abs(scores[False, "plain"] - scores[False, "shifted"]).max() > 1e-2


@pytest.mark.parametrize("readout", ["pool", "lstm"])
def test_trailing_padding_changes_nothing(readout):
    """Training and song_states cut batches to their longest lyric: the extra padded steps must not matter."""
    m = _model(readout=readout)
    tok = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    lens, tags = torch.tensor([3, 2]), torch.tensor([[1, 2, 0, 0, 0]] * 2)
    padded = torch.cat([tok, torch.zeros(2, 9, dtype=torch.long)], 1)
    with torch.no_grad():
        a, sa = m(tok[:, :3], lens, tags)
        b, sb = m(padded, lens, tags)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(sa, sb[:, :3])


@pytest.mark.parametrize("loss,arch", [("mse", {}), ("cpl", {}), ("mrl", {}), ("mrl", PAPER), ("mse", PAPER),
                                       ("mrl", {"output": "tied", "pooling": "weighted"}),
                                       ("mrl", {"prior": True, "negatives": 3, "negative_pool": "catalogue"}),
                                       ("mrl", {"attention_loss": 1.0, "match_pool": "max", "term_lr": 10.0})])
def test_seeded_fits_are_bit_identical_and_validate_on_unseen_songs(loss, arch):
    """Every loss stays selectable and repeats exactly; early stopping watches songs that training never saw."""
    topics, songs, images, pairs = _synthetic(3)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)

    def fit():
        return LyricTagModel(loss=loss, hidden=6, epochs=3, patience=3, val_fraction=0.2, seed=5, progress=False,
                             device="cpu", center=True, **arch).fit(pairs, songs, images, topics, wv)

    a, b = fit(), fit()
    assert a.history_ == b.history_ and all("val_loss" in h for h in a.history_)
    for k, v in a.model_.state_dict().items():
        assert torch.equal(v, b.model_.state_dict()[k]), k
    q = np.stack([images[f"i{i}"] for i in range(8)])
    np.testing.assert_array_equal(a.score(q, list(songs.values())), b.score(q, list(songs.values())))
    assert len(a.validation_songs_) == round(0.2 * len({s for _, s in pairs}))
    assert a.validation_songs_ == b.validation_songs_
    other = LyricTagModel(loss=loss, hidden=6, epochs=1, seed=6, progress=False, device="cpu", val_fraction=0.2)
    assert other.fit(pairs, songs, images, topics, wv).validation_songs_ != a.validation_songs_


def test_prior_features_known_answer():
    from engine.lstm.prior import PRIOR_FEATURES, prior_features, standardiser

    f = prior_features([["sun", "sea", "sun", "x"], []], ["sun", "sea", "moon"])
    # 4 tokens, 3 distinct words, 2 distinct keywords, 3 keyword tokens; an empty lyric is all log1p(0) = 0
    np.testing.assert_allclose(f, np.log1p([[4, 3, 2, 3], [0, 0, 0, 0]]), rtol=1e-6)
    assert f.shape[1] == len(PRIOR_FEATURES)
    mean, std = standardiser(np.array([[1.0, 5.0], [3.0, 5.0]]))
    assert mean.tolist() == [2.0, 5.0] and std.tolist() == [1.0, 1.0]  # a constant feature keeps std 1


def test_mrl_with_several_negatives_and_song_priors():
    v = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    pos, n1, n2 = torch.tensor([[1.0, 1.0], [0.0, 1.0]]), torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor(
        [[1.0, 0.0], [0.0, -1.0]])
    both = pair_loss("mrl", v, pos, torch.stack([n1, n2]))
    assert both.item() == pytest.approx((pair_loss("mrl", v, pos, n1) + pair_loss("mrl", v, pos, n2)).item() / 2)
    # a prior adds to each song's cosine: +0.5 on the positive of row 1 and +0.3 on its negative
    pb, nb = torch.tensor([0.5, 0.0]), torch.tensor([0.3, 0.0])
    want = (max(0.0, 1 + 0.3 - (1 / np.sqrt(2) + 0.5)) + 0.0) / 2
    assert pair_loss("mrl", v, pos, n1, pos_bias=pb, neg_bias=nb).item() == pytest.approx(want, rel=1e-5)


def _long_songs_paired():
    """_synthetic, plus 60 unpaired short lyrics: the paired songs are the long, keyword-rich ones."""
    topics, songs, images, pairs = _synthetic(4)
    rng = np.random.default_rng(9)
    short = {f"u{s}": [f"f{j}" for j in rng.integers(0, 20, 3)] for s in range(60)}
    return topics, {**songs, **short}, images, pairs


def test_catalogue_negatives_teach_the_song_prior_what_paired_lyrics_share(tmp_path):
    topics, songs, images, pairs = _long_songs_paired()
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)
    kw = dict(hidden=6, epochs=4, patience=4, seed=0, progress=False, device="cpu", prior=True, negatives=2,
              lexical=False)
    m = LyricTagModel(negative_pool="catalogue", checkpoint=tmp_path / "m.pt", **kw).fit(pairs, songs, images,
                                                                                       topics, wv)
    assert m.uses_prior_ and m.model_.song_prior.weight.abs().sum() > 0
    long_, short = [songs[f"s{s}"] for s in range(10)], [songs[f"u{s}"] for s in range(10)]
    assert m.song_prior(long_).min() > m.song_prior(short).max()  # paired (long) lyrics get the higher prior
    q = np.stack([images[f"i{i}"] for i in range(5)])
    lyr = long_ + short
    with_prior, cos = m.score(q, lyr), m.cosines(q, lyr)
    np.testing.assert_allclose(with_prior - cos, np.broadcast_to(m.song_prior(lyr), cos.shape), atol=1e-5)
    again = LyricTagModel.load(tmp_path / "m.pt", device="cpu")  # the prior's weights and standardiser come back
    assert again.prior and again.negative_pool == "catalogue" and again.negatives == 2
    np.testing.assert_allclose(again.score(q, lyr), with_prior, atol=1e-5)
    # "pairs" never reads the unpaired lyrics, so the fit is the same without them
    pa = LyricTagModel(negative_pool="pairs", **kw).fit(pairs, songs, images, topics, wv)
    pb = LyricTagModel(negative_pool="pairs", **kw).fit(pairs, {k: v for k, v in songs.items() if k[0] == "s"},
                                                        images, topics, wv)
    assert pa.history_ == pb.history_
    # "mixed" (the default) draws every other negative from the catalogue: the unpaired lyrics change the fit
    mixed = [LyricTagModel(negative_pool="mixed", **kw).fit(pairs, tok, images, topics, wv).history_
             for tok in (songs, {k: v for k, v in songs.items() if k[0] == "s"})]
    assert mixed[0] != mixed[1]


def test_prior_is_ignored_without_the_ranking_loss_and_bad_settings_are_errors():
    topics, songs, images, pairs = _synthetic(5)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)
    m = LyricTagModel(loss="mse", prior=True, hidden=6, epochs=1, progress=False, device="cpu").fit(
        pairs, songs, images, topics, wv)
    assert not m.uses_prior_ and not m.model_.prior
    assert np.all(m.song_prior([songs["s0"], songs["s1"]]) == 0)
    from graph.common.errors import Img2SongError
    for bad in ({"negatives": 0}, {"negatives": True}, {"negative_pool": "everything"}):
        with pytest.raises(Img2SongError, match="negative"):
            LyricTagModel(hidden=6, epochs=1, progress=False, device="cpu", **bad).fit(pairs, songs, images, topics, wv)


def test_lexical_term_is_the_tag_mass_the_lyric_holds(tmp_path):
    from engine.lstm.prior import keyword_presence, query_mass

    pres = keyword_presence([["sun", "x", "sun"], ["moon"], []], ["sun", "sea", "moon"])
    assert pres.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]
    mass = query_mass(np.array([[0.6, 0.2, 0.2], [-1.0, 0.0, 3.0]]))
    np.testing.assert_allclose(mass @ pres.T, [[0.6, 0.2, 0.0], [0.0, 1.0, 0.0]], rtol=1e-6)
    topics, songs, images, pairs = _synthetic(6)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)
    m = LyricTagModel(hidden=6, epochs=4, patience=4, seed=0, progress=False, device="cpu", lexical=True,
                      checkpoint=tmp_path / "m.pt").fit(pairs, songs, images, topics, wv)
    w = float(m.model_.lexical_weight.detach())
    assert m.uses_lexical_ and w > 0  # the topic word is in every paired lyric: holding it pays
    q, lyr = np.stack([images[f"i{i}"] for i in range(6)]), [songs[f"s{s}"] for s in range(12)]
    want = m.cosines(q, lyr) + m.song_prior(lyr)[None, :] + w * query_mass(q) @ keyword_presence(lyr, topics).T
    np.testing.assert_allclose(m.score(q, lyr), want, atol=1e-5)
    np.testing.assert_allclose(LyricTagModel.load(tmp_path / "m.pt", device="cpu").score(q, lyr), want, atol=1e-5)


def test_attention_supervision_known_answer():
    from engine.lstm.losses import attention_supervision

    att = torch.tensor([[0.5, 0.25, 0.25, 0.0], [0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.0, 0.0]])
    tok = torch.tensor([[3, 4, 3, 0], [5, 6, 7, 8], [2, 9, 0, 0]])
    tags = torch.tensor([[3, 0], [1, 2], [9, 0]])  # row 1's lyric holds no tag word; row 0 holds word 3 twice
    want = (-(0.5 * np.log(0.5) + 0.5 * np.log(0.25)) - np.log(0.5)) / 2  # the two rows that hold one, averaged
    assert float(attention_supervision(att, tok, tags)) == pytest.approx(want, rel=1e-6)
    # a padding step (token 0) never matches a missing tag (0), and no row holding a tag word gives exactly 0
    assert float(attention_supervision(att[1:2], tok[1:2], tags[1:2])) == 0.0
    assert float(attention_supervision(att[:1], tok[:1], torch.tensor([[0, 0]]))) == 0.0


def test_max_word_match_known_answer():
    """match_pool="max": each step against its best tag word (the average ṽ would dilute a match K-fold)."""
    from engine.lstm.model import word_match

    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]])
    tags = torch.tensor([[[1.0, 0.0], [0.0, -1.0], [9.0, 9.0]]])
    got = word_match(x, tags, torch.tensor([[True, True, False]]))  # the third tag is missing: never the max
    torch.testing.assert_close(got, torch.tensor([[1.0, 0.0, 0.6]]))
    assert word_match(x, tags, torch.tensor([[False, False, False]])).abs().sum() == 0  # no tag word: no match


def test_attention_loss_puts_the_attention_on_the_tag_words(tmp_path):
    """The auxiliary loss raises the attention mass on the steps holding the image's tag word (same seed, same
    pairs, weight 0 vs 3); the weight is saved; bad weights are clear errors."""
    from engine.lstm.dataset import encode_lyrics
    from graph.common.errors import Img2SongError

    topics, songs, images, pairs = _synthetic(4)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)
    lyr = [songs[f"s{s}"] for s in range(60)]
    tok, lens, _ = encode_lyrics(lyr, wv, 48)
    tw = torch.as_tensor(top_tag_words(np.stack([images[f"i{s % 6}"] for s in range(60)]),
                                       np.array([wv.index[t] for t in topics]), 5))

    def mass(weight):
        m = LyricTagModel(hidden=6, epochs=20, patience=20, batch_size=20, lr=1e-2, val_fraction=0.0, seed=0,
                          progress=False, device="cpu",
                          attention_loss=weight, checkpoint=tmp_path / f"m{weight}.pt")
        m.fit(pairs, songs, images, topics, wv)
        with torch.no_grad():
            _, s = m.model_(torch.as_tensor(tok), torch.as_tensor(lens), tw)
        hold = (torch.as_tensor(tok)[:, :, None] == tw[:, None, :]).any(-1)  # each lyric holds its topic's tag
        return float((s * hold).sum(1).mean()), m

    before, _ = mass(0.0)
    after, m = mass(3.0)
    assert after > before + 0.2 and after > 0.5, (before, after)
    assert LyricTagModel.load(tmp_path / "m3.0.pt", device="cpu").attention_loss == 3.0
    for bad in (-1.0, True, float("nan"), "1"):
        with pytest.raises(Img2SongError, match="attention_loss"):
            LyricTagModel(hidden=6, epochs=1, progress=False, device="cpu", attention_loss=bad).fit(
                pairs, songs, images, topics, wv)
    with pytest.raises(Img2SongError, match="match_pool"):
        LyricTagModel(hidden=6, epochs=1, progress=False, device="cpu", match_pool="min").fit(
            pairs, songs, images, topics, wv)


def test_term_lr_speeds_up_the_song_terms_only(tmp_path):
    """term_lr scales the rate of γ, λ and the prior's weights only: after one RMSprop step (one batch) λ moved
    term_lr times as far and the LSTM's weights are identical; over several epochs λ ends larger; bad rates are
    clear errors."""
    from graph.common.errors import Img2SongError

    topics, songs, images, pairs = _synthetic(6)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)

    def fit(rate, epochs, batch):
        return LyricTagModel(hidden=6, epochs=epochs, patience=epochs, val_fraction=0.0, batch_size=batch, seed=0,
                             progress=False, device="cpu", term_lr=rate).fit(pairs, songs, images, topics, wv)

    one = [fit(r, 1, 10_000) for r in (1.0, 10.0)]
    lam = [float(m.model_.lexical_weight.detach()) for m in one]
    assert lam[0] > 0 and lam[1] == pytest.approx(10 * lam[0], rel=1e-3)
    for name, w in one[0].model_.named_parameters():
        if name not in ("lexical_weight", "match_scale") and not name.startswith("song_prior."):
            assert torch.equal(w, dict(one[1].model_.named_parameters())[name]), name
    slow, fast = (float(fit(r, 4, 100).model_.lexical_weight.detach()) for r in (1.0, 10.0))
    assert fast > 3 * slow > 0
    # a checkpoint from before term_lr existed was trained at one rate: it loads as term_lr=1, so that a scorer
    # wanting the default (10) retrains instead of reusing it
    ck = tmp_path / "old.pt"
    one[1].save(ck)
    doc = torch.load(ck, weights_only=False)
    del doc["params"]["term_lr"]
    torch.save(doc, ck)
    assert LyricTagModel.load(ck, device="cpu").term_lr == 1.0 and LyricTagModel().term_lr == 10.0
    for bad in (0, -1.0, True, float("inf")):
        with pytest.raises(Img2SongError, match="term_lr"):
            LyricTagModel(hidden=6, epochs=1, progress=False, device="cpu", term_lr=bad).fit(
                pairs, songs, images, topics, wv)


def test_fit_runs_on_its_own_thread_count_and_restores_the_process_setting():
    """threads=1 (the default): the same seed gives the same model whatever torch's thread count was before the fit,
    and that count is restored afterwards; a bad count is a clear error."""
    from graph.common.errors import Img2SongError

    topics, songs, images, pairs = _synthetic(6)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)
    before = torch.get_num_threads()
    try:
        models = []
        for outside in (2, 1):
            torch.set_num_threads(outside)
            models.append(LyricTagModel(hidden=6, epochs=2, patience=2, val_fraction=0.0, seed=0, progress=False,
                                        device="cpu").fit(pairs, songs, images, topics, wv))
            assert torch.get_num_threads() == outside
        for (name, w), w2 in zip(models[0].model_.named_parameters(), models[1].model_.parameters()):
            assert torch.equal(w, w2), name
        for bad in (0, -1, True, 1.5, "2"):
            with pytest.raises(Img2SongError, match="threads"):
                LyricTagModel(hidden=6, epochs=1, progress=False, device="cpu", threads=bad).fit(
                    pairs, songs, images, topics, wv)
    finally:
        torch.set_num_threads(before)
