"""A hand-written CC-CEDICT excerpt (real entries' shapes) for fast, exact bridge and selection tests."""
from __future__ import annotations

from pathlib import Path

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
