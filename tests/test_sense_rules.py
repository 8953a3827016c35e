"""Session 9's sense rules for image-keyword edges, each on a tiny known case (real CC-CEDICT and WordNet): the rule
drops the wrong edge and keeps the right one beside it."""
from __future__ import annotations

import pytest

from graph.bridge import Bridge
from graph.captions import image_keywords, readable
from graph.categories import categories, fits, opposites, text_sense
from graph.records import Image
from graph.senses import bag


@pytest.fixture(autouse=True)
def _rules_without_the_edge_model(monkeypatch):
    """These tests pin the bridge's drawing rules; graph.edge_model's drop on top of them is tested in
    tests/test_edge_model.py (and its effect on fresh13 in tests/test_bridge.py)."""
    from graph import edge_model

    monkeypatch.setattr(edge_model, "EDGE_MODEL", False)


VOCAB = frozenset("车 男子 女子 人物 鸟 书 身 手 船 锥 冰淇淋 林 泪 木材".split())


@pytest.fixture(scope="module")
def real() -> Bridge:
    return Bridge()


def drawn(bridge: Bridge, tags: str, caption: str = "") -> set[str]:
    img = Image("x", "x.jpg", tags=tuple(tags.split("|")), caption=caption, language="en", tag_language="en")
    return set(image_keywords(img, bridge, VOCAB)[0])


def test_a_category_tag_reaches_only_the_words_that_fit_the_thing(real):
    """车 /car/vehicle/: its main meaning (car) is a motor vehicle, so 'vehicle' beside a truck or a tractor draws
    it, beside an airplane, a sledge or a tugboat it does not (they meet car only at vehicle)."""
    assert "车" not in drawn(real, "vehicle|plane|airplane")
    assert "车" not in drawn(real, "winter|vehicle|transportation|sledge")
    assert "车" not in drawn(real, "vehicle|ship|tugboat")
    assert "车" in drawn(real, "vehicle|lorry|truck")
    assert "车" in drawn(real, "vehicle|farming|tractor")
    assert "车" in drawn(real, "vehicle")  # no specific thing named: the category alone decides nothing
    # a word whose main meaning is the category itself, or that names no kind of it, keeps its edge
    assert "人物" in drawn(real, "person|boy")
    assert "鸟" in drawn(real, "animal|bird|kingfisher")
    wn = real.wordnet
    ctx = bag("vehicle plane airplane")
    cats = categories(wn, ["vehicle", "plane", "airplane"], ctx)
    assert set(cats) == {"vehicle"} and text_sense(wn, "airplane", ctx) in cats["vehicle"][1]
    assert not fits(wn, real.cedict, "车", *cats["vehicle"])
    assert fits(wn, real.cedict, "car", *cats["vehicle"])  # an English word is never judged


def test_tags_naming_both_sides_of_an_antonym_pair_draw_no_edge_of_their_own(real):
    """An emoji tagged man|woman|person shows one of them; WordNet lists man and woman as antonyms."""
    assert opposites(real.wordnet, ["man", "woman", "person"], bag("man woman person")) == {"man", "woman"}
    assert "男子" not in drawn(real, "man|woman|person")
    assert "女子" not in drawn(real, "man|woman|person")
    assert "人物" in drawn(real, "man|woman|person")  # the other tags still draw theirs
    assert "男子" in drawn(real, "man|person")
    assert "女子" in drawn(real, "woman|person")


def test_kinds_come_only_from_a_sense_the_word_commonly_has(real):
    """'electric' is chiefly an adjective (SemCor tags none of its noun senses), so its noun sense, an electric car,
    draws no 车; 'shape' beside a hand is not the human body (a rarer sense no other tag names), so no 身. A
    commonest noun sense keeps its kinds: an ambulance is a car (车), a kingfisher a bird (鸟)."""
    wn = real.wordnet
    assert not wn.draws_kinds("electric", wn.senses("electric")[0], frozenset())
    assert "车" not in drawn(real, "computer|key|write|electric")
    assert "车" in drawn(real, "ambulance")
    assert "鸟" in drawn(real, "kingfisher")
    assert "身" not in drawn(real, "shape|hand") and "手" in drawn(real, "shape|hand")
    assert "身" in drawn(real, "anatomy|brain|bodypart")  # anatomy's commonest sense is the body's structure


def test_a_sense_whose_whole_the_image_names_is_the_sense_meant(real):
    """letter beside 'alphabet' (WordNet: a letter is a member of an alphabet) is a character, not a written message:
    no 书; a letter beside mail is still one (书 'letter')."""
    wn = real.wordnet
    chosen = wn.choose("letter", bag("alphabet upper case type"))[0]
    assert "alphabet" in wn.wholes(chosen) and chosen != wn.senses("letter")[0]
    assert "书" not in drawn(real, "alphabet|letter|upper case|type")
    assert "书" in drawn(real, "letter|mail|envelope")


def test_an_inflected_word_is_not_split_as_a_closed_compound(real):
    """'covered' is cover + ed, not 'cove red' (which drew the English keyword 'red' for a flower with dew)."""
    from graph.captions import _known_nouns

    known = _known_nouns(real)
    assert {"cove", "red", "palm", "tree"} <= known
    assert readable("covered", known) == "covered" and readable("flowercovered", known) != "flower cove red"
    assert readable("stopped", known) == "stopped"
    assert readable("palmtree", known) == "palm tree"  # a real closed compound still splits


def test_a_hyphenated_wordnet_compound_is_found_from_a_tags_words(real):
    """WordNet spells ice-cream cone with a hyphen; a tag's lemmas ('ice cream cone') now find it, so the bare tag
    'cone' beside it is a word of that concept's name (no 锥 'cone', the shape), while a cone alone is still one."""
    wn = real.wordnet
    assert wn.senses("ice cream cone") == wn.senses("ice-cream cone") != []
    assert "锥" not in drawn(real, "dessert|ice cream|cone|scoop", "Ice Cream Cone")
    assert "锥" in drawn(real, "cone|shape")


def test_a_gloss_written_in_a_form_that_names_one_sense_translates_that_sense(real):
    """林 /woods/: WordNet lists 'woods' for wood as a forest only, so the substance wood (a log, lumber) draws no
    林, and 木材 'timber' stays; 泪 /tears/ stays for a tear ('tears' is weeping, no sense of 'tear' at all)."""
    assert "林" not in drawn(real, "log|lumber|wood") and "木材" in drawn(real, "log|lumber|wood")
    assert "泪" in drawn(real, "smiling face with tear")
