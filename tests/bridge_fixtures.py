"""A hand-written CC-CEDICT excerpt (real entries' shapes) for fast, exact bridge and selection tests."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graph.records import Image

MINI_CEDICT = """\
# CC-CEDICT excerpt for tests
梅花 梅花 [mei2 hua1] /plum blossom/clubs (a suit in card games)/
月 月 [yue4] /moon/month/monthly/CL:個|个[ge4],輪|轮[lun2]/
船 船 [chuan2] /boat/vessel/ship/CL:條|条[tiao2],艘[sou1],隻|只[zhi1]/
馬 马 [ma3] /horse/CL:匹[pi3]/
卡路里 卡路里 [ka3 lu4 li3] /calorie (loanword)/
卡 卡 [ka3] /to stop/calorie (abbr. for 卡路里[ka3 lu4 li3])/
路 路 [Lu4] /surname Lu/
路 路 [lu4] /road/CL:條|条[tiao2]/journey/route/
四月 四月 [Si4 yue4] /April/fourth month (of the lunar year)/
蟾 蟾 [chan2] /toad/(literary) the moon/
食 食 [shi2] /to eat/food/animal feed/eclipse/
花 花 [hua1] /flower/blossom/
黑 黑 [hei1] /black/dark/
愁 愁 [chou2] /to worry about/
栁 柳 [liu3] /old variant of 柳[liu3]/
柳 柳 [liu3] /willow/
顆 颗 [ke1] /classifier for small spheres, pearls, corn grains, teeth, hearts, satellites etc/
心 心 [xin1] /heart/mind/
"""


def write_mini_cedict(path: Path) -> Path:
    path.write_text(MINI_CEDICT, encoding="utf-8")
    return path


SENSE_LABELS = Path(__file__).resolve().parent / "fixtures" / "sense_labels.tsv"


@dataclass(frozen=True)
class LabelledEdge:
    corpus: str
    split: str
    how: str
    image: Image
    keyword: str
    label: bool


def read_sense_labels(path: Path = SENSE_LABELS) -> list[LabelledEdge]:
    """The hand-labelled edges of tests/fixtures/sense_labels.tsv (its header comment states the labelling rule)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    cols = lines[0].split("\t")
    out = []
    for line in lines[1:]:
        r = dict(zip(cols, line.split("\t")))
        img = Image(r["image"], f"{r['image']}.jpg", tags=tuple(t for t in r["tags"].split("|") if t),
                    caption=r["caption"], language=r["language"], tag_language=r["tag_language"])
        out.append(LabelledEdge(r["corpus"], r["split"], r["how"], img, r["keyword"], r["label"] == "1"))
    return out


def sense_scores(edges: list[LabelledEdge], bridge) -> dict[tuple[str, str], dict[str, int]]:
    """(corpus or 'all', split or 'all') -> kept, kept_correct, correct (labelled 1) counts of the bridge's edges."""
    from graph.bridge import image_reach

    out: dict[tuple[str, str], dict[str, int]] = {}
    for e in edges:
        kept = e.keyword in image_reach(e.image, bridge, frozenset({e.keyword}))[0]
        for key in {(e.corpus, e.split), (e.corpus, "all"), ("all", e.split), ("all", "all")}:
            c = out.setdefault(key, {"edges": 0, "kept": 0, "kept_correct": 0, "correct": 0})
            c["edges"] += 1
            c["kept"] += kept
            c["kept_correct"] += kept and e.label
            c["correct"] += e.label
    return out
