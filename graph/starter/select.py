"""Keyword selection (frequent in the ci AND expressible by enough images) and the English->Chinese lexicon."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from tqdm import tqdm

from graph.keywords import extract_keywords, stopwords
from graph.starter.cedict import is_cjk
from graph.starter.images import Candidate
from graph.starter.songs import Ci

# Frequent words that the image side reaches only through a figurative or grammatical sense.
EXCLUDE = frozenset(
    [
        "人", "天", "时", "日", "小", "老", "心", "家", "中", "年", "处", "事", "意", "物", "主", "手", "头", "身",
        "口", "面", "首", "子", "儿", "公", "客", "我", "君", "外", "上", "下", "前", "后", "里", "声", "气", "底",
        "点", "干", "团", "本", "端", "内", "侧", "节", "乐", "结", "音", "响", "迹", "踪", "符", "标", "象", "宿",
        "宇", "涯", "景", "颜", "目", "怀", "卷", "发", "字", "角", "盖", "根", "足", "户", "盘", "汉", "陌", "唐",
        "埃", "尘", "光", "地", "机", "轮", "弹", "食", "兵", "束", "渊", "皋", "舆", "瀛", "鉴", "篆", "陵", "笺",
        "苑", "轩", "堂", "洲", "川", "鸿", "乌",
    ]
)


CONCRETE_CODES = ("B", "Ab")  # Cilin classes of concrete things and of people (see is_concrete)


def sense_synonyms(word: str, cilin_codes: dict[str, list[str]], cilin_words: dict[str, list[str]]) -> set[str]:
    """Cilin synonyms of word in a concrete sense that share a character with it: 月亮 for 月, not 蟾蜍 or 阴,
    because one Cilin group mixes the senses of a character (toad and overcast sit in the moon's group)."""
    return {w for code in cilin_codes.get(word, ()) if code.startswith(CONCRETE_CODES) for w in cilin_words[code]
            if w != word and set(w) & set(word)}


def translation_reach(en2zh: dict[str, list[str]], targets: Iterable[str], cilin_codes: dict[str, list[str]],
                      cilin_words: dict[str, list[str]]) -> dict[str, set[str]]:
    """English word -> target words it translates to: a CC-CEDICT headword that IS the target or a sense synonym
    of it. Never by containment: 卡路里 (calorie) and 四月份 (april) reach neither 路 nor 月."""
    via: dict[str, set[str]] = {}
    for t in targets:
        via.setdefault(t, set()).add(t)
        for s in sense_synonyms(t, cilin_codes, cilin_words):
            via.setdefault(s, set()).add(t)
    out = {}
    for en, zhs in en2zh.items():
        hit = {t for z in zhs for t in via.get(z, ())}
        if hit:
            out[en] = hit
    return out


@dataclass
class Selection:
    keywords: list[str]
    song_df: dict[str, int]  # over all ci
    image_support: dict[str, int]  # over all image candidates
    candidates: int = 0
    dropped: dict[str, list[str]] = field(default_factory=dict)


def image_words(c: Candidate, reach: dict[str, set[str]], vocab: frozenset[str]) -> set[str]:
    """Chinese words an image reaches: its English tags through their translations, plus words of a zh caption."""
    words = {w for t in c.tags for w in reach.get(t, ())}
    if c.language == "zh" and c.caption:
        words |= set(extract_keywords(c.caption, "zh", vocab))
    return words


def is_concrete(codes: list[str]) -> bool:
    """Cilin class B (objects: plants, animals, weather, celestial bodies, buildings, tools...) or Ab (people)."""
    return any(c.startswith(CONCRETE_CODES) for c in codes)


def candidate_vocabulary(images: list[Candidate], en2zh: dict[str, list[str]],
                         cilin_codes: dict[str, list[str]], max_len: int = 2) -> frozenset[str]:
    """Short Chinese words for concrete things that some image tag translates to (what an image can express)."""
    stop = stopwords("zh")
    vocab = {w for c in images for t in c.tags for w in en2zh.get(t, ())}
    return frozenset(w for w in vocab if is_cjk(w) and len(w) <= max_len and w not in stop and w not in EXCLUDE
                     and is_concrete(cilin_codes.get(w, [])))


def select_keywords(cis: list[Ci], images: list[Candidate], en2zh: dict[str, list[str]],
                    cilin_codes: dict[str, list[str]], cilin_words: dict[str, list[str]], related_count: dict[str, int],
                    n: int = 72, min_images: int = 5, min_songs: int = 60, min_related: int = 20) -> Selection:
    """Top-n words by ci document frequency among those with >= min_images images and Cilin neighbours."""
    vocab = candidate_vocabulary(images, en2zh, cilin_codes)
    df: Counter[str] = Counter()
    for c in tqdm(cis, desc="keyword df over ci", unit=" ci", mininterval=5):
        df.update(set(extract_keywords(c.lyrics, "zh", vocab)))
    support: Counter[str] = Counter()
    reach = translation_reach(en2zh, vocab, cilin_codes, cilin_words)  # the rule build_lexicon applies
    for img in images:
        support.update(image_words(img, reach, vocab))
    sel, dropped = [], {"too few images": [], "too few related words": []}
    for w, k in df.most_common():
        if k < min_songs or len(sel) >= n:
            break
        if support[w] < min_images:
            dropped["too few images"].append(w)
        elif related_count.get(w, 0) < min_related:
            dropped["too few related words"].append(w)
        else:
            sel.append(w)
    return Selection(sel, {w: df[w] for w in sel}, {w: support[w] for w in sel}, len(vocab), dropped)


def build_lexicon(keywords: list[str], en2zh: dict[str, list[str]], cilin_codes: dict[str, list[str]],
                  cilin_words: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(english, keyword) pairs where a CC-CEDICT translation of the English word is the keyword or a sense
    synonym of it (moon -> 月 and 月亮; ship -> 船只 -> 船), never one that merely contains it (calorie -> 卡路里)."""
    reach = translation_reach(en2zh, keywords, cilin_codes, cilin_words)
    return sorted((en, k) for en, ks in reach.items() if " " not in en for k in ks)
