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

from graph.wordnet import tagged_senses
from graph.wordnet_senses import WORDNET_SENSES, WordNetSenses, bag

Key = tuple[str, str]
HYPONYM = "~"  # WordNet's pointer from a synset to a kind of it


def _extended(wn: WordNetSenses, key: Key, memo: dict[Key, frozenset[str]]) -> frozenset[str]:
    """The sense's signature, and the lemmas and definitions of its direct hyponyms."""
    if key not in memo:
        words = set(wn.signature(key))
        for sym, off, pos, _, _ in wn.wn.synset(key).pointers:
            if sym == HYPONYM and pos == "n":
                syn = wn.wn.synset((pos, off))
                words |= bag(" ".join(syn.lemmas)) | bag(syn.definition)
        memo[key] = frozenset(words)
    return memo[key]


def chiefly_noun(wn: WordNetSenses, word: str) -> bool:
    """False for a word SemCor tags in more senses of other parts of speech than of nouns (small, musical, open), and
    for an -ing or -ed form of a word WordNet knows (smiling, covering): it describes a thing, it names none."""
    tagged = tagged_senses(wn.wn.folder).get(word, {})
    return tagged.get("n", 0) >= sum(n for p, n in tagged.items() if p != "n") and not _participle(wn, word)


def _participle(wn: WordNetSenses, word: str) -> bool:
    """True for an -ing or -ed form of a word WordNet knows (smiling, covering, holding): a verb form before a noun
    describes it; it names no thing that could pick the noun's sense."""
    for end in ("ing", "ed"):
        stem = word[: -len(end)]
        if word.endswith(end) and len(stem) > 2:
            if any(wn.wn.noun_senses(s) for s in (stem, stem + "e", stem[:-1] if stem[-1] == stem[-2] else stem)):
                return True
    return False


_MEMO: dict[int, dict[Key, frozenset[str]]] = {}


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
    memo = _MEMO.setdefault(id(wn), {})
    sig = wn.signature(chosen) - bag(head) - bag(modifier)
    if (sig | {modifier}) & _extended(wn, plain, memo):
        return None  # the modifier fits the sense the context chooses anyway
    shared = sorted(((len(sig & _extended(wn, h, memo)), i, h) for i, h in enumerate(heads)), reverse=True)
    (best, _, key), (second, _, _) = shared[0], shared[1]
    return key if best > second else None
