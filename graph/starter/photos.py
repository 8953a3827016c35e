"""Photo candidates from Debian desktop-background packages, with each image's licence from the package's metadata.

Tags come from the file name (CamelCase and separators split, the "_by_Author" suffix dropped) or, for KDE Plasma
wallpapers, from metadata.json's English name; a zh_CN name there is kept as the caption. Each image's licence and
copyright holder come from the package's machine-readable debian/copyright (the most specific `Files:` pattern that
matches the file) or from metadata.json's `License`.
"""
from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from graph.starter.images import Candidate, tag_words

# package -> folders (relative to the unpacked package root) that hold named photos; mate's desktop/ holds branded
# wallpapers and gnome/sway ship abstract renders, so they are not listed
# ukui-wallpapers is left out: its named files are mostly abstract renders (string.jpg is coloured ribbons)
PHOTO_FOLDERS = {
    "mate-backgrounds": ("usr/share/backgrounds/mate/nature", "usr/share/backgrounds/mate/abstract"),
    "lomiri-wallpapers-16.04": ("usr/share/backgrounds",),
    "lomiri-wallpapers-20.04": ("usr/share/backgrounds",),
}
PLASMA = "plasma-workspace-wallpapers"
SUFFIXES = (".jpg", ".jpeg", ".png")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SIZE = re.compile(r"_\d+x\d+$")


@dataclass(frozen=True)
class CopyrightStanza:
    patterns: tuple[str, ...]
    holder: str
    licence: str


def parse_copyright(path: Path) -> list[CopyrightStanza]:
    """`Files:` stanzas of a DEP-5 debian/copyright file (patterns, first copyright line, licence short name)."""
    out = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        if "Files" in fields and "License" in fields:
            out.append(CopyrightStanza(tuple(fields["Files"].split()), fields.get("Copyright", "").strip(),
                                       fields["License"].split()[0] if fields["License"] else ""))
    return out


def licence_for(stanzas: list[CopyrightStanza], rel: str) -> tuple[str, str]:
    """(licence, holder) of the most specific stanza whose pattern matches the tail of the file's path."""
    best: tuple[int, CopyrightStanza] | None = None
    parts = rel.split("/")
    for st in stanzas:
        for pat in st.patterns:
            depth = pat.count("/") + 1
            if fnmatch.fnmatch("/".join(parts[-depth:]), pat):
                score = len(pat.replace("*", ""))
                if best is None or score > best[0]:
                    best = (score, st)
    # a package may install its source's 16.04/x.jpg as backgrounds/x.jpg: a stanza naming that very file name
    # says more than a wildcard that happens to match the installed path
    named = [st for st in stanzas for pat in st.patterns if "*" not in pat and pat.split("/")[-1] == parts[-1]]
    if len(named) == 1 and (best is None or best[0] < len(parts[-1])):
        return named[0].licence, named[0].holder
    if best is None:
        return "", ""
    return best[1].licence, best[1].holder


def name_tags(stem: str, is_word: Callable[[str], bool] = lambda w: False) -> list[str]:
    """'GreenMeadow' -> green, meadow; 'sunset_by_Aitzol_Berasategi' -> sunset; 'Elephants_3840x2160' -> elephant;
    a CamelCase name that is itself a word (is_word: the dictionary knows it) stays one: 'LadyBird' -> ladybird."""
    stem = _SIZE.sub("", stem.split("_by_")[0])
    compound = tag_words(stem.replace("-", "").replace("_", ""))
    if _CAMEL.search(stem) and len(compound) == 1 and is_word(compound[0]):
        return compound
    return tag_words(_CAMEL.sub(" ", stem))


def wallpaper_candidates(raw: Path, versions: dict[str, str],
                         is_word: Callable[[str], bool] = lambda w: False) -> list[Candidate]:
    """Named photos of the desktop-background packages unpacked in raw/ (package name = folder name)."""
    out: list[Candidate] = []
    for pkg, folders in PHOTO_FOLDERS.items():
        root = raw / pkg
        if not root.is_dir():
            continue
        stanzas = parse_copyright(root / f"usr/share/doc/{pkg}/copyright")
        src = f"{pkg} {versions.get(pkg, '')}".strip()
        seen: set[str] = set()
        for folder in folders:
            for img in sorted((root / folder).iterdir()):
                if img.suffix.lower() not in SUFFIXES or not img.is_file():
                    continue
                stem = _SIZE.sub("", img.stem)
                tags = name_tags(img.stem, is_word)
                if stem in seen or not tags:  # Elephants_3840x2160 is Elephants at another size
                    continue
                seen.add(stem)
                lic, holder = licence_for(stanzas, str(img.relative_to(root)))
                out.append(Candidate(f"bg-{_slug(pkg)}-{_slug(stem)}", src, _licence(lic, holder), str(img),
                                     "photo", tuple(tags), " ".join(tags), "en"))
    out += plasma_candidates(raw, versions.get(PLASMA, ""))
    out += palapeli_candidates(raw, versions.get(PALAPELI, ""))
    out += jigzo_candidates(raw, versions.get(JIGZO, ""))
    out += tuxpaint_template_candidates(raw, versions.get(TUX_TEMPLATES, ""))
    return out


PALAPELI = "palapeli-data"
JIGZO = "jigzo-data"
TUX_TEMPLATES = "tuxpaint-data"


def _dep5_files(raw: Path, pkg: str, folder: str, pattern: str) -> tuple[Path, list[CopyrightStanza], list[Path]]:
    """(the unpacked package's folder, its debian/copyright stanzas, its files under `folder` matching `pattern`);
    no files when the package is not unpacked in raw/."""
    base = raw / pkg / folder
    if not base.is_dir():
        return base, [], []
    return base, parse_copyright(raw / pkg / f"usr/share/doc/{pkg}/copyright"), sorted(base.rglob(pattern))


def tuxpaint_template_candidates(raw: Path, version: str) -> list[Candidate]:
    """Tux Paint's template photos (AUTHORS.txt: photographed by Bill Kendrick): tags from the file name
    ('sun_behind_clouds' -> sun, cloud), licence and holder per file from debian/copyright."""
    folder, stanzas, files = _dep5_files(raw, TUX_TEMPLATES, "usr/share/tuxpaint/templates", "*")
    out = []
    for img in files:
        if img.suffix.lower() not in SUFFIXES or not img.is_file():
            continue
        lic, holder = licence_for(stanzas, str(img.relative_to(folder.parent)))
        tags = tag_words(img.stem)
        if lic and tags:
            out.append(Candidate(f"bg-tuxpaint-template-{_slug(img.stem)}", f"{TUX_TEMPLATES} {version}".strip(),
                                 _licence(lic, holder), str(img), "photo", tuple(tags), " ".join(tags), "en"))
    return out


def jigzo_candidates(raw: Path, version: str) -> list[Candidate]:
    """jigzo's puzzle photos (the JPEG inside each .pzl): tags from the file name ('gorilla2-3x3' -> gorilla),
    licence and holder per file from debian/copyright; a non-commercial licence is not shipped."""
    folder, stanzas, files = _dep5_files(raw, JIGZO, "usr/share/games/jigzo/puzzles", "*.pzl")
    out = []
    for pzl in files:
        lic, holder = licence_for(stanzas, str(pzl.relative_to(folder.parent)))
        if not lic or "-NC" in lic.upper():
            continue
        tags = tag_words(re.sub(r"[-_]?\d+x\d+$|\d+", " ", pzl.stem))
        if tags:
            out.append(Candidate(f"bg-jigzo-{_slug(pzl.stem)}", f"{JIGZO} {version}".strip(), _licence(lic, holder),
                                 str(pzl), "photo", tuple(tags), " ".join(tags), "en"))
    return out


def palapeli_candidates(raw: Path, version: str) -> list[Candidate]:
    """KDE Palapeli's puzzle photos: tags from the .desktop English Name and Comment, zh_CN name as caption,
    licence, author and source page from the .desktop (X-KDE-PluginInfo-License / -Author / -Website)."""
    root = raw / PALAPELI
    folder = root / "usr/share/palapeli/collection"
    if not folder.is_dir():
        return []
    out = []
    for desk in sorted(folder.glob("*.desktop")):
        img = desk.with_suffix(".jpg")
        if not img.is_file():
            continue
        fields = dict(ln.split("=", 1) for ln in desk.read_text(encoding="utf-8").splitlines() if "=" in ln)
        tags = tag_words(f"{fields.get('Comment', '')} {fields.get('Name', '')} {desk.stem}")
        zh = "".join(ch for ch in fields.get("Name[zh_CN]", "") if "\u4e00" <= ch <= "\u9fff")
        lic = fields.get("X-KDE-PluginInfo-License", "")
        holder = ", ".join(x for x in (fields.get("X-KDE-PluginInfo-Author", ""),
                                       fields.get("X-KDE-PluginInfo-Website", "")) if x)
        if not lic:
            continue  # no per-file licence: not shipped
        out.append(Candidate(f"bg-palapeli-{_slug(desk.stem)}", f"{PALAPELI} {version}".strip(),
                             _licence(lic, holder), str(img), "photo",
                             tuple(tags), zh or " ".join(tags), "zh" if zh else "en"))
    return out


def plasma_candidates(raw: Path, version: str) -> list[Candidate]:
    """KDE Plasma wallpapers: the smallest image >= 640 px wide, English name as tags, zh_CN name as caption."""
    root = raw / PLASMA / "usr/share/wallpapers"
    if not root.is_dir():
        return []
    out = []
    for meta_path in sorted(root.glob("*/metadata.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8")).get("KPlugin", {})
        images = sorted((meta_path.parent / "contents/images").glob("*.jpg"),
                        key=lambda p: int(p.stem.split("x")[0]) if p.stem.split("x")[0].isdigit() else 0)
        if not images:
            continue
        name = meta.get("Name", meta_path.parent.name)
        tags = tag_words(re.sub(r"[\d.]+", " ", name))
        zh = "".join(ch for ch in meta.get("Name[zh_CN]", "") if "\u4e00" <= ch <= "\u9fff")
        authors = ", ".join(a.get("Name", "") for a in meta.get("Authors", []))
        out.append(Candidate(f"bg-plasma-{_slug(meta_path.parent.name)}", f"{PLASMA} {version}".strip(),
                             _licence(meta.get("License", ""), authors), str(images[0]), "photo", tuple(tags),
                             zh or name, "zh" if zh else "en"))
    return [c for c in out if c.tags or c.language == "zh"]


def _licence(lic: str, holder: str) -> str:
    return f"{lic} (© {holder})" if holder else lic


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
