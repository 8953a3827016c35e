"""File-name captions made readable, and the single-word back-off for images the phrase rule links to nothing."""
from __future__ import annotations

from graph.bridge import EDGE_THRESHOLD, Bridge, image_reach
from graph.captions import BACKOFF, backoff_reach, image_keywords, readable, readable_image
from graph.keywords import lemmatize_en
from graph.records import Image

KNOWN = frozenset("palm tree red fox kiwi fruit top hat screwdriver teacup light bulb clock face".split())


def test_file_names_become_words():
    cases = {
        "RedFox_2.png": "Red Fox", "red_fox-2": "red fox", "RedFox": "Red Fox", "palmtree": "palm tree",
        "kiwifruit": "kiwi fruit", "tophat": "top hat", "screwdriver": "screwdriver", "teacup": "teacup",
        "01_nomoon_openclipart.svg": "nomoon openclipart", "clock face nine-thirty": "clock face nine thirty",
        "HTMLParser": "HTML Parser", "Owl on a Branch": "Owl on a Branch", "lightbulb": "light bulb",
        "bussola": "bussola",  # no split into known nouns: left alone
        "sunset_by_Aitzol_Berasategi.jpg": "sunset", "Infinite-Sea_by_Aury88.jpg": "Infinite Sea",  # credits go
        "stand-by-me.png": "stand by me", "Owl by a Branch": "Owl by a Branch",  # not a '_by_Name' file suffix
    }
    for text, want in cases.items():
        assert readable(text, KNOWN) == want, text
    assert readable("palmtree") == "palmtree"  # no word list: compounds stay whole, separators still split


def test_plural_of_oe_nouns():
    got = {w: lemmatize_en(w) for w in "shoes toes canoes horseshoes oboes potatoes heroes tomatoes echoes".split()}
    assert got == {"shoes": "shoe", "toes": "toe", "canoes": "canoe", "horseshoes": "horseshoe", "oboes": "oboe",
                   "potatoes": "potato", "heroes": "hero", "tomatoes": "tomato", "echoes": "echo"}


def _img(caption: str = "", tags: tuple[str, ...] = (), language: str = "en") -> Image:
    return Image("i", "images/i.jpg", tuple(tags), caption, language, "en")


def test_named_photos_reach_keywords_through_the_bridge():
    b = Bridge(lexicon={"fox": ["狐"], "palm": ["棕榈"], "tree": ["树"]}, use_cedict=False, use_wordnet=False)
    vocab = frozenset({"狐", "树"})
    assert image_reach(_img("RedFox_2"), b, vocab)[0] == {}  # the bridge alone: "redfox" is no word
    assert set(image_keywords(_img("RedFox_2"), b, vocab)[0]) == {"狐"}
    assert readable_image(_img("Red fox", ("fox",)), b) == _img("Red fox", ("fox",))  # plain text unchanged


def test_backoff_only_when_the_phrase_rule_links_nothing():
    b = Bridge(lexicon={"clock": ["钟"], "person": ["人"], "frowning": [], "oclock": []},
               use_cedict=False, use_wordnet=False)
    vocab = frozenset({"钟", "人"})
    img = _img("", ("clock face five oclock",))
    assert image_reach(img, b, vocab)[0] == {}  # the head 'oclock' reaches nothing
    got, why = image_keywords(img, b, vocab)
    assert got == {"钟": BACKOFF * 1.0} and why == {"钟": ["clock face five oclock (clock)"]}
    assert BACKOFF >= EDGE_THRESHOLD
    linked = _img("person", ("clock face five oclock",))  # the caption links: no back-off for the tag
    assert image_keywords(linked, b, vocab)[0] == image_reach(linked, b, vocab)[0] == {"人": 1.0}
    assert backoff_reach(_img(""), b, vocab) == ({}, {})


def test_backoff_keeps_only_edges_at_the_threshold():
    class Weak(Bridge):
        def text_reach(self, text, language, vocab, phrase=True, context=frozenset(), description=""):
            self.described.append(description)
            return {"钟": EDGE_THRESHOLD} if text == "clock" else {}

    b = Weak(use_cedict=False, use_wordnet=False)
    b.described = []
    assert backoff_reach(_img("", ("clock face five oclock",)), b, frozenset({"钟"}))[0] == {}
    assert set(b.described) == {""}  # no encoder: nothing to describe
    # with an encoder the back-off's edges are weighed against the image's description, as the phrase rule's are
    b.relatedness, b.described = object(), []
    backoff_reach(_img("", ("clock face five oclock",)), b, frozenset({"钟"}))
    assert set(b.described) == {"clock face five oclock"}


def test_chinese_caption_backs_off_through_english_senses():
    b = Bridge(lexicon={"basketball": ["篮球"], "ball": ["球"]}, use_cedict=False, use_wordnet=False)
    vocab = frozenset({"球"})
    img = _img("篮球。", language="zh")
    assert image_reach(img, b, vocab)[0] == {}  # 球 inside the word 篮球 draws no edge
    got, why = image_keywords(img, b, vocab)
    assert got == {} and why == {}  # lexicon: 篮球 -> basketball only, which reaches 篮球, not 球
    b2 = Bridge(lexicon={"ball": ["篮球", "球"]}, use_cedict=False, use_wordnet=False)
    got, why = image_keywords(img, b2, vocab)
    assert set(got) == {"球"} and got["球"] == BACKOFF and why["球"] == ["篮球。 (篮球 = ball)"]
