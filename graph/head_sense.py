"""Which sense the head noun of a two-word tag takes from the noun before it, when WordNet names no compound of
the two: 'tumbler glass' and 'cocktail glass' are drinking glasses (a container), not the material; an 'oil drum' is
the metal container for liquids, not the instrument.

WordNet terms only, no word list:
- the modifier is itself a kind of one of the head's senses (a tumbler is a glass, glass.n.02): that sense;
- else, unless the modifier's signature (or the modifier itself) shares a word with the sense the context chooses
  anyway (glass in a 'glass window': a window holds a glass pane), the head's sense whose extended signature (its own signature, and the lemmas and definitions of the kinds
  WordNet files below it: wineglass, highball glass) shares the most words with the modifier's signature in context
  (oil: liquid; a drum that is a container is 'used for shipping or storage of liquids'), when one sense shares more
  than every other.
Only things are picked (a picture shows things: no 'expression' for a smiling face), only by a modifier that is
chiefly a noun (SemCor, as WordNetSenses.draws_kinds). A head the modifier picks no sense of (rice ball, die face) keeps the sense the image's words choose (bridge).
"""
from __future__ import annotations

from graph.keywords import inflected
from graph.wordnet import tagged_senses
from graph.wordnet_senses import WORDNET_SENSES, WordNetSenses, bag

Key = tuple[str, str]


def chiefly_noun(wn: WordNetSenses, word: str) -> bool:
    """False for a word SemCor tags in more senses of other parts of speech than of nouns (small, musical, open), and
    for an -ing or -ed form of a word WordNet knows (smiling, covering): it describes a thing, it names none."""
    tagged = tagged_senses(wn.wn.folder).get(word, {})
    return (tagged.get("n", 0) >= sum(n for p, n in tagged.items() if p != "n")
            and not inflected(word, lambda s: bool(wn.wn.noun_senses(s))))


def modifier_sense(wn: WordNetSenses, modifier: str, head: str, context: frozenset[str]) -> Key | None:
    """The head's WordNet noun sense the modifier picks (module docstring), or None when it picks none."""
    heads = [h for h in wn.senses(head)[:WORDNET_SENSES] if wn.physical(h)]
    mods = wn.wn.noun_senses(modifier)
    if len(heads) < 2 or not mods or not chiefly_noun(wn, modifier):
        return None  # one thing the head can be, or a modifier chiefly an adjective or verb (small, smiling)
    for h in heads:
        if any(m == h or h in wn.ancestors(m) for m in mods[:WORDNET_SENSES]):
            return h  # a sense of the modifier is a kind of this sense: a tumbler is a glass
    chosen = wn.choose(modifier, context)[0]
    plain = wn.choose(head, context)[0]
    if chosen is None or plain is None:
        return None
    sig = wn.signature(chosen) - bag(head) - bag(modifier)
    if (sig | {modifier}) & wn.extended_signature(plain):
        return None  # the modifier fits the sense the context chooses anyway
    shared = sorted(((len(sig & wn.extended_signature(h)), i, h) for i, h in enumerate(heads)), reverse=True)
    (best, _, key), (second, _, _) = shared[0], shared[1]
    return key if best > second else None
