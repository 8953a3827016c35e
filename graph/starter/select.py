"""Keyword selection (frequent in the ci AND expressible by enough images) and the English->Chinese lexicon."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tqdm import tqdm

from graph.keywords import extract_keywords, stopwords, tokenize
from graph.starter.cedict import is_cjk
from graph.starter.images import Candidate

# Frequent words that the image side reaches only through a figurative or grammatical sense.
EXCLUDE = frozenset(
    [
        "人", "天", "时", "日", "小", "老", "心", "家", "中", "年", "处", "事", "意", "物", "主", "手", "头", "身",
        "口", "面", "首", "子", "儿", "公", "客", "我", "君", "外", "上", "下", "前", "后", "里", "声", "气", "底",
        "点", "干", "团", "本", "端", "内", "侧", "节", "乐", "结", "音", "响", "迹", "踪", "符", "标", "象", "宿",
        "宇", "涯", "景", "颜", "目", "怀", "卷", "发", "字", "角", "盖", "根", "足", "户", "盘", "汉", "陌", "唐",
        "埃", "尘", "光", "地", "机", "轮", "弹", "食", "兵", "束", "渊", "皋", "舆", "瀛", "鉴", "篆", "陵", "笺",
        "苑", "轩", "堂", "洲", "川", "鸿", "乌",
        # reached by a tag in a sense a ci rarely uses: 调 (tune: to mix), 表 (watch: outside), 背 (back: to
        # turn away), 士 (soldier: scholar), 实 (fruit: real), 装/服 (clothing: to pretend/to obey), 尺 (ruler: a
        # foot), 苹 (apple: duckweed), 陆 (land: six), 线/土/体/液/乳/洪/泪痕 (drawing or body words)
        "调", "表", "背", "士", "实", "装", "服", "尺", "苹", "陆", "线", "土", "体", "液", "乳", "洪", "泪痕",
        "范", "结子", "玻",  # 范 (model: a rule), 结子 (knot: to bear seeds), 玻 (only inside 玻璃)
        # colours: in a tag they describe the drawing, not what it shows
        "蓝", "灰", "彩", "颜色", "新绿", "浓绿", "彩色",
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


@dataclass(frozen=True)
class SelectionRule:
    """The keyword rule of the product (graph.vocabulary once it lands): frequent, but in at most max_song_share of
    the songs (a word in most songs says nothing: ten random songs would contain it), with enough images."""

    num: int = 80
    min_images: int = 8
    min_songs: int = 30
    max_song_share: float = 0.05
    min_related: int = 100  # Cilin neighbours, so the ground truth has n = 100 related words
    max_chars: int = 4


@dataclass
class Selection:
    keywords: list[str]
    song_df: dict[str, int]  # songs (of the shipped set) whose lyrics contain the keyword
    image_support: dict[str, int]  # over all image candidates
    candidates: int = 0
    songs_total: int = 0
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


def candidate_vocabulary(images: list[Candidate], en2zh: dict[str, list[str]], cilin_codes: dict[str, list[str]],
                         cilin_words: dict[str, list[str]], max_len: int = 4) -> frozenset[str]:
    """Chinese words for concrete things an image can express: translations of its tags and words of its zh
    caption, plus their concrete Cilin synonyms sharing a character (月亮 -> 明月 ... 花 -> 落花)."""
    stop = stopwords("zh")
    base = {w for c in images for t in c.tags for w in en2zh.get(t, ())}
    base |= {w for c in images if c.language == "zh" and c.caption for w in tokenize(c.caption, "zh")}

    def ok(w: str) -> bool:
        return is_cjk(w) and len(w) <= max_len and w not in stop and w not in EXCLUDE and \
            is_concrete(cilin_codes.get(w, []))

    vocab = {w for w in base if ok(w)}
    vocab |= {s for w in vocab for s in sense_synonyms(w, cilin_codes, cilin_words) if ok(s)}
    return frozenset(vocab)


def song_counts(lyrics: list[str], words: Iterable[str]) -> Counter[str]:
    """Songs whose lyrics contain each word (substring, as the evaluation's ground truth counts a hit)."""
    counts: Counter[str] = Counter()
    for w in tqdm(sorted(words), desc="keyword song counts", unit=" word", mininterval=5):
        counts[w] = sum(1 for text in lyrics if w in text)
    return counts


def select_keywords(lyrics: list[str], reached: list[set[str]], related_count: Callable[[str], int],
                    rule: SelectionRule = SelectionRule(), candidates: int = 0) -> Selection:
    """The rule's keywords: reached by >= min_images images, in >= min_songs and <= max_song_share of the songs,
    with >= min_related Cilin neighbours; the num most frequent (by songs containing them)."""
    support: Counter[str] = Counter(w for ws in reached for w in ws)
    enough = [w for w, k in support.items() if k >= rule.min_images]
    df = song_counts(lyrics, enough)
    cap = rule.max_song_share * len(lyrics)
    sel: list[str] = []
    dropped: dict[str, list[str]] = {f"in > {rule.max_song_share:.0%} of the songs": [],
                                     f"in < {rule.min_songs} songs": [], "too few related words": []}
    for w in sorted(enough, key=lambda w: (-df[w], w)):
        if len(sel) >= rule.num:
            break
        if df[w] > cap:
            dropped[f"in > {rule.max_song_share:.0%} of the songs"].append(w)
        elif df[w] < rule.min_songs:
            dropped[f"in < {rule.min_songs} songs"].append(w)
        elif related_count(w) < rule.min_related:
            dropped["too few related words"].append(w)
        else:
            sel.append(w)
    dropped[f"reached by < {rule.min_images} images"] = sorted(
        (w for w in support if support[w] < rule.min_images), key=lambda w: -support[w])[:40]
    return Selection(sel, {w: df[w] for w in sel}, {w: support[w] for w in sel}, candidates, len(lyrics),
                     {r: ws[:40] for r, ws in dropped.items() if ws})


def build_lexicon(keywords: list[str], en2zh: dict[str, list[str]], cilin_codes: dict[str, list[str]],
                  cilin_words: dict[str, list[str]], phrases: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(english, keyword) pairs where a CC-CEDICT translation of the English word is the keyword or a sense
    synonym of it (moon -> 月 and 月亮; ship -> 船只 -> 船), never one that merely contains it (calorie -> 卡路里).
    Multi-word English only when it is one of the given image-tag phrases ('plum blossom' -> 梅花)."""
    reach = translation_reach(en2zh, keywords, cilin_codes, cilin_words)
    return sorted((en, k) for en, ks in reach.items() if " " not in en or en in phrases for k in ks)
