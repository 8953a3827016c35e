"""The kind back-off's precision rules (graph.kinds): each removes a family of wrong kind edges that the labelled
kinds splits showed, and leaves the right edge beside it."""
from __future__ import annotations

import pytest

from graph.bridge import Bridge
from graph.cedict_index import gloss_keys, list_items
from graph.kinds import KIND_WEIGHT, THING_FILES, branches, commonest, kind_reach, names_kind, phrase_unit
from graph.records import Image


@pytest.fixture(scope="module")
def real() -> Bridge:
    return Bridge()


def tagged(*tags: str) -> Image:
    return Image("x", "x.jpg", tags=tags, caption="", language="en", tag_language="en")


def reach(bridge: Bridge, tag: str, vocab: str) -> dict[str, float]:
    return dict(kind_reach(tagged(tag), bridge, frozenset(vocab.split()))[0])


def test_a_word_that_first_means_a_narrower_kind_reaches_only_that_branch(real):
    # 车 is 'car; vehicle': a car is a wheeled vehicle, so a vehicle reaches 车 only through wheeled vehicle
    for tag in ("ship", "sailboat", "airplane", "helicopter", "balloon", "sled"):
        assert reach(real, tag, "车 鸟") == {}, tag
    for tag in ("bicycle", "tractor", "motor scooter", "steam locomotive", "auto rickshaw"):
        assert reach(real, tag, "车 鸟") == {"车": KIND_WEIGHT}, tag
    wn = real.wordnet.wn
    vehicle, car, ship = (wn.noun_senses(w)[0] for w in ("vehicle", "car", "ship"))
    assert not branches(wn, car, vehicle) & branches(wn, ship, vehicle)  # wheeled vehicle vs craft
    assert not names_kind(real, "车", "vehicle", ship, vehicle) and names_kind(real, "车", "car", car, car)
    # a ship still reaches the word that names its own kind: 船 'boat; vessel; ship'
    assert reach(real, "canoe", "船 车") == {"船": KIND_WEIGHT}


def test_birds_reach_bird_through_the_back_off(real):
    # the photos named one by one: a lark, a flamingo, a seagull (5 steps: gull -> ... -> aquatic bird -> bird)
    for tag in ("lark", "flamingo", "seagull", "pink flamingo"):
        assert reach(real, tag, "鸟 兽 车") == {"鸟": KIND_WEIGHT}, tag


def test_kinds_are_things_a_picture_shows(real):
    # a newspaper, a radio, a television: WordNet files their commonest senses as media (noun.communication), whose
    # 媒 is 'matchmaker' first; a violin's kind (noun.artifact) stays
    for tag in ("newspaper", "radio", "television"):
        assert reach(real, tag, "媒 乐器") == {}, tag
    assert reach(real, "violin", "媒 乐器") == {"乐器": KIND_WEIGHT}
    assert 10 not in THING_FILES and 6 in THING_FILES


def test_an_adjective_tag_names_no_kind(real):
    # 'electric' is tagged an adjective in SemCor: the noun sense 'electric car' is not what 'electric' names
    assert reach(real, "electric", "车 乐器") == {}
    assert reach(real, "electric guitar", "车 乐器") == {"乐器": KIND_WEIGHT}


def test_a_fruit_named_alone_is_the_fruit_not_its_tree(real):
    # WordNet files 'mango', 'apricot', 'almond' first as the tree: a picture named so shows the fruit (果)
    for tag in ("mango", "apricot", "peach"):
        assert reach(real, tag, "树 果") == {"果": KIND_WEIGHT}, tag
    assert reach(real, "pine", "树 果") == {"树": KIND_WEIGHT}  # no fruit sense: the tree stays


def test_a_phrase_is_read_by_its_longest_known_ending(real):
    wn = real.wordnet
    assert phrase_unit(wn, ["roasted", "sweet", "potato"]) == "sweet potato"
    assert phrase_unit(wn, ["push", "pin"]) == "pushpin"  # closed up as WordNet writes it
    assert phrase_unit(wn, ["bell", "bottom", "pants"]) in ("bell-bottom pants", "pants", "bottom pants")
    assert reach(real, "push pin", "饰 食用 菜") == {}  # not the jewelry pin -> 饰
    assert reach(real, "roasted sweet potato", "饰 食用 菜") == {"菜": KIND_WEIGHT}  # not potato -> starches -> 食用
    assert reach(real, "earring", "饰 食用 菜") == {"饰": KIND_WEIGHT}


def test_a_tag_is_read_in_the_sense_the_other_tags_are_kinds_of(real):
    # WordNet's commonest 'amphibian' is the amphibious vehicle; beside 'frog' (a kind of amphibian, the animal) it
    # reaches no 车; alone it still does (nothing says otherwise)
    frog = Image("x", "x.jpg", tags=("animal", "amphibian", "frog"), caption="", language="en", tag_language="en")
    assert not kind_reach(frog, real, frozenset({"车", "鸟"}))[0]
    assert reach(real, "amphibian", "车 鸟") == {"车": KIND_WEIGHT}


def test_a_list_of_included_kinds_is_read_as_glosses():
    # 虫 'lower form of animal life, including insects, insect larvae, worms and similar creatures' names an insect
    # and a worm; before, the index held 'including insect' and 'worm and similar creature', which no tag equals
    keys = gloss_keys("lower form of animal life, including insects, insect larvae, worms and similar creatures")
    assert {"insect", "insect larvae", "worm"} <= set(keys) and "including insect" not in keys
    # a singular or capitalised item names a part or a place, not a kind of the sense
    assert not {"poetry", "music", "comedy"} & set(gloss_keys("Yuan dynasty theater, including poetry, music and comedy"))
    assert not {"henan", "hebei", "southern shanxi"} & set(gloss_keys(
        "Central Plain, the middle and lower regions of the Yellow river, including Henan, western Shandong, "
        "southern Shanxi and Hebei"))
    assert list_items("insects") == ["insects"] and list_items("Sui and Tang Dynasties") == []
    # a gloss with no list is read as before
    assert gloss_keys("moon, satellite") == ["moon", "satellite"]


def test_insects_reach_insect_and_birds_or_whales_do_not(real):
    assert any(r.target == "虫" and r.kept for r in real.english_weighted("insect", frozenset({"insect"})))
    for tag in ("hornet", "bee", "mantis", "butterfly", "ant"):
        assert reach(real, tag, "虫 兽 鸟") == {"虫": KIND_WEIGHT}, tag
    # the right edge beside: a bird reaches 鸟 and neither 虫 nor 兽; a whale (a mammal) reaches none of them, and no
    # fish
    assert reach(real, "lark", "虫 兽 鸟") == {"鸟": KIND_WEIGHT}
    assert reach(real, "whale", "虫 兽 鸟 鱼") == {}


def test_a_vegetable_or_nut_named_alone_is_the_food(real):
    # WordNet files 'onion', 'carrot', 'yam', 'pecan' first as the edible part, then as the plant (both noun.plant);
    # the chooser picks the plant, and the food the word also names is what is pictured
    for tag, word in (("onion", "菜"), ("carrot", "菜"), ("yam", "菜"), ("pecan", "果")):
        assert reach(real, tag, "菜 果 树 草") == {word: KIND_WEIGHT}, tag
    # unchanged: pink the colour is not the flower, a pine is a tree, a lark is a bird
    assert reach(real, "pink", "花 菜 果") == {}
    assert reach(real, "pine", "菜 果 树") == {"树": KIND_WEIGHT}
    wn = real.wordnet
    assert commonest(wn, "onion", wn.senses("onion")[0]) and not commonest(wn, "pink", wn.senses("pink")[1])


def test_a_kind_is_reached_at_any_depth_below_a_kingdom(real):
    # delivery truck -> van -> truck -> motor vehicle -> self-propelled vehicle -> wheeled vehicle -> vehicle: 6 steps,
    # past session 9's 5-step limit (the emoji 🚚 of the second catalogue); still no kingdom: a bird reaches no 物
    counts, why = kind_reach(tagged("delivery truck"), real, frozenset({"车", "鸟"}))
    assert dict(counts) == {"车": KIND_WEIGHT} and why["车"][0].count(" -> ") == 6
    assert reach(real, "lark", "物 东西 生物") == {}
