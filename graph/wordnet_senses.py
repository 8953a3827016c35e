"""The noun side of WordNet the bridge weighs senses by: a tag's senses, their signatures, their hypernym walks.

Split from graph.senses (which weighs CC-CEDICT candidates and re-exports these names): image tags name visible
things, so physical senses come first; a sense a definition derives from the word itself needs context; kinds stop
at synsets too general to describe a picture (TOO_GENERAL).
"""
from __future__ import annotations

import re
from functools import lru_cache

from graph.keywords import lemmatize_en, stopwords
from graph.wordnet import WordNetData, tagged_senses

GROUP_FILE = 14  # WordNet lexicographer file noun.group
ATTRIBUTE_FILE = 7  # noun.attribute: colours, sizes (blue in 'blue jean' is shown, whatever compound it names)
ARTIFACT_FILE, SUBSTANCE_FILE = 6, 27  # noun.artifact, noun.substance: a made thing's material hypernym
MEMBERS = frozenset({("n", "00007846"), ("n", "00015388")})  # person.n.01 and animal.n.01: what a group is made of
DERIVED = 0.3  # a sense whose definition names the word itself (raccoon's fur), when no context word supports it
HOLONYMS = ("#m", "#p", "#s")  # WordNet pointers to the whole a synset is a member, part or substance of
PHYSICAL_BONUS = 2.5  # a physical sense of the tag is preferred (a picture shows things)
WORDNET_SENSES = 4  # the tag's most frequent noun senses considered
KIND_STEPS = 3
PHYSICAL_ENTITY = ("n", "00001930")
PHYSICAL_ROOTS = frozenset({PHYSICAL_ENTITY})
# hypernyms too general to describe a picture: the walk stops there
TOO_GENERAL = frozenset("""entity|physical entity|abstraction|abstract entity|object|physical object|whole|unit|
living thing|animate thing|organism|being|matter|substance|solid|artifact|artefact|instrumentality|
instrumentation|causal agent|cause|causal agency|thing|group|grouping|collection|attribute|quality|relation|measure|
psychological feature|cognition|knowledge|content|cognitive content|mental object|communication|act|deed|
human action|human activity|event|state|location|region|natural object|part|portion|component|
component part|constituent|structure|construction|device|container|covering|commodity|goods|material|stuff|
way|property|feature|lineament|form|shape|signal|sign|message|writing|written communication|symbol|
representation|creation|product|activity|condition|trait|kind|sort|type|variety|category|class""".replace(
    "\n", "").split("|"))

_WORD = re.compile(r"[a-z]+")


@lru_cache(maxsize=200_000)
def bag(text: str) -> frozenset[str]:
    """Content lemmas of an English text (the words senses are compared by)."""
    stop = stopwords("en")
    return frozenset(lemmatize_en(w) for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in stop)


class WordNetSenses:
    """The noun side of WordNet the bridge needs: a tag's senses, their signatures and their hypernym walks."""

    def __init__(self, wn: WordNetData):
        self.wn = wn
        self._sig: dict[tuple[str, str], frozenset[str]] = {}
        self._ext: dict[tuple[str, str], frozenset[str]] = {}
        self._physical: dict[tuple[str, str], bool] = {}
        self._members: dict[frozenset[str], bool] = {}
        self._ancestors: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}

    def senses(self, lemma: str) -> list[tuple[str, str]]:
        return self.wn.noun_senses(lemma)[:WORDNET_SENSES]

    def name(self, key: tuple[str, str]) -> str:
        syn = self.wn.synset(key)
        return f"{syn.lemmas[0]} ({syn.definition[:60]})"

    def extended_signature(self, key: tuple[str, str]) -> frozenset[str]:
        """The signature, and the lemmas and definitions of the synset's direct hyponyms (the kinds WordNet files
        below it: wineglass, highball glass under the drinking glass)."""
        if key not in self._ext:
            words = set(self.signature(key))
            for sym, off, pos, _, _ in self.wn.synset(key).pointers:
                if sym == "~" and pos == "n":
                    syn = self.wn.synset((pos, off))
                    words |= bag(" ".join(syn.lemmas)) | bag(syn.definition)
            self._ext[key] = frozenset(words)
        return self._ext[key]

    def signature(self, key: tuple[str, str]) -> frozenset[str]:
        """Lemmas of the synset and of its hypernyms two steps up, and the words of its definition."""
        if key not in self._sig:
            syn = self.wn.synset(key)
            words = set(bag(" ".join(syn.lemmas)) | bag(syn.definition))
            for h in syn.hypernyms():
                hs = self.wn.synset(h)
                words |= bag(" ".join(hs.lemmas))
                for h2 in hs.hypernyms():
                    words |= bag(" ".join(self.wn.synset(h2).lemmas))
            self._sig[key] = frozenset(words)
        return self._sig[key]

    def described(self, key: tuple[str, str]) -> frozenset[str]:
        """Words of the synset's definition and of its hypernyms' lemmas two steps up, not its own lemmas: what the
        words of a compound's name must be found in to be part of what it is ('cream' in ice cream, not 'ice')."""
        syn = self.wn.synset(key)
        words = set(bag(syn.definition))
        for h in syn.hypernyms():
            words |= bag(" ".join(self.wn.synset(h).lemmas))
            for h2 in self.wn.synset(h).hypernyms():
                words |= bag(" ".join(self.wn.synset(h2).lemmas))
        return frozenset(words)

    def synonyms(self, key: tuple[str, str]) -> frozenset[str]:
        """Words of the synset's lemmas and of its direct hypernyms' lemmas (what a translation of that sense says)."""
        syn = self.wn.synset(key)
        lemmas = [*syn.lemmas] + [lem for h in syn.hypernyms() for lem in self.wn.synset(h).lemmas]
        return frozenset(bag(" ".join(lemmas)))

    def lexfile(self, key: tuple[str, str]) -> int:
        """The synset's WordNet lexicographer file (14: noun.group)."""
        return int(self.wn.lines[key].split()[1])

    def names_members(self, words: frozenset[str]) -> bool:
        """True when a word, in the sense the other words choose, is a person or an animal (what a group shown in a
        picture shows): 'mouse' beside 'computer' is a device, a 'printer' beside 'inkjet' a machine."""
        if words not in self._members:
            self._members[words] = any(
                (key := self.choose(w, words - {w})[0]) is not None and self.is_a(key, MEMBERS)
                for w in words if self.senses(w))
        return self._members[words]

    def ancestors(self, key: tuple[str, str]) -> frozenset[tuple[str, str]]:
        """The synset and every hypernym above it (instance hypernyms included), memoised."""
        if key not in self._ancestors:
            seen, frontier = {key}, [key]
            while frontier:
                frontier = [h for k in frontier for h in self.wn.synset(k).hypernyms() if h not in seen]
                seen.update(frontier)
            self._ancestors[key] = frozenset(seen)
        return self._ancestors[key]

    def is_a(self, key: tuple[str, str], roots: frozenset[tuple[str, str]]) -> bool:
        """True when the synset is one of `roots` or a kind of one (its hypernym closure)."""
        return not roots.isdisjoint(self.ancestors(key))

    def physical(self, key: tuple[str, str]) -> bool:
        if key not in self._physical:
            self._physical[key] = self.is_a(key, PHYSICAL_ROOTS)
        return self._physical[key]

    def instance(self, key: tuple[str, str]) -> bool:
        """True for a named instance (an '@i' instance-hypernym pointer: Red River, the Statue of Liberty)."""
        return any(sym == "@i" for sym, *_ in self.wn.synset(key).pointers)

    def concrete(self, word: str) -> bool | None:
        """Whether a word's most frequent noun sense is a physical thing (None: not a WordNet noun)."""
        senses = self.wn.noun_senses(word)
        return self.physical(senses[0]) if senses else None

    def choose(self, lemma: str, context: frozenset[str]) -> tuple[tuple[str, str] | None, str]:
        """(the tag's noun sense that fits the context best, why): WordNet rank, physical senses first, overlap of
        the sense's signature with the context words."""
        best, best_score, why = None, 0.0, ""
        tagged = tagged_senses(self.wn.folder).get(lemma, {}).get("n", 0)  # senses ranked by tagged frequency
        for i, key in enumerate(self.senses(lemma)):
            shared = self.signature(key) & context
            # a named instance (Red River for 'red') is a thing, but not what a common word means; a sense after
            # the ones WordNet ranks by tagged frequency is a rare use, not lifted above them for being a thing
            # unless the context names it (kiss the cookie, Easter the east wind; pop beside a beverage is soda)
            bonus = PHYSICAL_BONUS if (self.physical(key) and not self.instance(key)
                                       and (not tagged or i < tagged or shared)) else 1.0
            # the image names the whole this sense is a member or part of (letter beside 'alphabet': a letter of
            # the alphabet, not a written message): that sense is what is shown, whatever its kind
            if whole := self.wholes(key) & context:
                bonus, shared = PHYSICAL_BONUS, shared | whole
            score = bonus * (1 + 2 * len(shared)) / (1 + 0.5 * i)
            if not shared and self.derived(lemma, key):
                score *= DERIVED  # the fur of the raccoon, the flesh of a chicken: the word's other sense is meant
            if score > best_score:
                best, best_score = key, score
                why = f"sense {i + 1}" + (", physical" if self.physical(key) else "") + (
                    f", context {', '.join(sorted(shared))}" if shared else "")
        return best, why

    def wholes(self, key: tuple[str, str]) -> frozenset[str]:
        """Lemma words of the synsets WordNet says this one is a member, part or substance of (holonyms)."""
        syn = self.wn.synset(key)
        return frozenset(bag(" ".join(lem for sym, off, pos, _, _ in syn.pointers if sym in HOLONYMS and pos == "n"
                                      for lem in self.wn.synset((pos, off)).lemmas)))

    def made_of(self, key: tuple[str, str], hyper: tuple[str, str]) -> bool:
        """True when a made thing's hypernym is a material (noun.artifact -> noun.substance: card -> paper): WordNet
        files what it is made of as its kind, which is not what a picture of it shows."""
        return self.lexfile(key) == ARTIFACT_FILE and self.lexfile(hyper) == SUBSTANCE_FILE

    def derived(self, lemma: str, key: tuple[str, str]) -> bool:
        """True when the first clause of the sense's definition names the word or a spelling of it that another of
        its senses lists ('raccoon: the fur of the North American racoon', 'chicken: the flesh of a chicken used for
        food'): a sense made from another sense of the word."""
        senses = self.wn.noun_senses(lemma)
        if len(senses) < 2:
            return False
        names = {lemma} | {n for k in senses if k != key for n in self.wn.synset(k).lemmas if one_edit(n, lemma)}
        return bool(bag(re.split(r"[;:]", self.wn.synset(key).gloss)[0]) & names)

    def kinds(self, key: tuple[str, str]) -> list[tuple[int, tuple[str, str], list[str]]]:
        """(steps, hypernym synset, path of names) up to KIND_STEPS, never through TOO_GENERAL synsets."""
        out, seen = [], {key}
        frontier = [(key, [self.wn.synset(key).lemmas[0]])]
        for step in range(1, KIND_STEPS + 1):
            nxt = []
            for k, path in frontier:
                for h in self.wn.synset(k).hypernyms():
                    lemmas = self.wn.synset(h).lemmas
                    if h in seen or any(lem in TOO_GENERAL for lem in lemmas):
                        continue
                    seen.add(h)
                    out.append((step, h, [*path, lemmas[0]]))
                    nxt.append((h, [*path, lemmas[0]]))
            frontier = nxt
        return out

    def draws_kinds(self, lemma: str, key: tuple[str, str], context: frozenset[str]) -> bool:
        """Whether a tag in its chosen sense reaches the keywords of that sense's kinds: not when the sense is a rarer
        one that no word of the image names (shape as a human body, lifted only for being a thing), nor when the word
        is chiefly another part of speech (SemCor tagged none of its noun senses but some of its adjective or verb
        senses: 'electric' as an electric car, 'launch' as a motorboat)."""
        if key != self.senses(lemma)[:1][0] and not self.signature(key) & context:
            return False
        tagged = tagged_senses(self.wn.folder).get(lemma, {})
        return bool(tagged.get("n", 0)) or not any(n for p, n in tagged.items() if p != "n")

    def lemma_means(self, lemma: str, key: tuple[str, str]) -> bool:
        """True when the synset is the commonest noun sense of the lemma as the bridge looks it up (its english_key):
        a kind's lemma read in another sense draws that sense's words (weapon's lemma 'arm' is first the limb, 臂;
        male person's 'male' is first the animal, 雄)."""
        return self.wn.noun_senses(lemma)[:1] == [key]


def one_edit(a: str, b: str) -> bool:
    """True when two words differ by one inserted, deleted or replaced letter (racoon, raccoon: one spelling)."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[i + 1:] == b[i + 1:] or a[i + 1:] == b[i:] or a[i:] == b[i + 1:]
