"""Shared fixtures: a tiny but real corpus directory built in tmp_path (songs, images as PNGs, lexicon)."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

TINY_SONGS = [
    {"id": "s1", "title": "水调歌头", "artist": "苏轼", "lyrics": "明月几时有，把酒问青天。\n月光照山间。", "language": "zh",
     "popularity": 9.0},
    {"id": "s2", "title": "念奴娇", "artist": "苏轼", "lyrics": "大江东去，浪淘尽。江上小船行。", "language": "zh", "popularity": 8.0},
    {"id": "s3", "title": "声声慢", "artist": "李清照", "lyrics": "梧桐更兼细雨，到黄昏、点点滴滴。花落满地。", "language": "zh",
     "popularity": 7.0},
    {"id": "s4", "title": "如梦令", "artist": "李清照", "lyrics": "昨夜雨疏风骤，浓睡不消残酒。海棠花依旧。", "language": "zh",
     "popularity": 6.0},
    {"id": "s5", "title": "江城子", "artist": "苏轼", "lyrics": "老夫聊发少年狂，左牵黄，右擎苍。千骑卷平冈，月下山。", "language": "zh",
     "popularity": 5.0},
    {"id": "s6", "title": "Moon Song", "artist": "anon", "lyrics": "The moon over the river, a boat of flowers", "language": "en",
     "popularity": 1.0},
]
TINY_IMAGES = [
    {"id": "i1", "file": "images/i1.png", "tags": ["moon"], "caption": "明月", "language": "zh", "source": "test",
     "licence": "CC0"},
    {"id": "i2", "file": "images/i2.png", "tags": ["moon", "mountain"], "caption": "", "language": "zh"},
    {"id": "i3", "file": "images/i3.png", "tags": ["flower"], "caption": "一朵花", "language": "zh"},
    {"id": "i4", "file": "images/i4.png", "tags": ["rain"], "caption": "", "language": "zh"},
    {"id": "i5", "file": "images/i5.png", "tags": ["boat", "river"], "caption": "江上的船", "language": "zh"},
    {"id": "i6", "file": "images/i6.png", "tags": ["wine"], "caption": "", "language": "zh"},
    {"id": "i7", "file": "images/i7.png", "tags": ["flower", "rain"], "caption": "", "language": "zh"},
    {"id": "i8", "file": "images/i8.png", "tags": ["moon"], "caption": "", "language": "zh"},
]
TINY_KEYWORDS = ["月", "酒", "山", "江", "船", "雨", "花"]
TINY_LEXICON = [("moon", "月"), ("wine", "酒"), ("mountain", "山"), ("river", "江"), ("boat", "船"), ("rain", "雨"),
                ("flower", "花")]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def make_corpus(root: Path, songs: list[dict] | None = None, images: list[dict] | None = None) -> Path:
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    images = TINY_IMAGES if images is None else images
    for k, img in enumerate(images):
        p = root / img["file"]
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16 + k, 12), color=(20 * k % 256, 80, 160)).save(p)
    write_jsonl(root / "songs.jsonl", TINY_SONGS if songs is None else songs)
    write_jsonl(root / "images.jsonl", images)
    (root / "keywords.txt").write_text("\n".join(TINY_KEYWORDS) + "\n", encoding="utf-8")
    (root / "lexicon.tsv").write_text("".join(f"{e}\t{z}\n" for e, z in TINY_LEXICON), encoding="utf-8")
    (root / "manifest.json").write_text(json.dumps({"name": "tiny", "sources": []}), encoding="utf-8")
    return root


@pytest.fixture
def tiny_corpus_dir(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "corpus")


def session_root(tmp_path_factory) -> Path:
    """The folder this pytest run's temp folders live in: under pytest-xdist (make test), the one all workers'
    basetemps (popen-gw0, popen-gw1, ...) share; in a plain run, the basetemp itself."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(root: Path, name: str, build: Callable[[Path], Path]) -> Path:
    """`build(root / name)`'s result, built by the first worker that asks; the others wait on a lock and reuse it.
    A build that raised leaves no result: the next caller builds again in a fresh folder."""
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when its process dies
        done = root / f".{name}.done"
        if not done.exists():
            folder = root / name
            shutil.rmtree(folder, ignore_errors=True)  # what a build that raised left
            folder.mkdir()
            done.write_text(str(build(folder)), encoding="utf-8")
        return Path(done.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def dictionary_cache(tmp_path_factory) -> Path:
    """One folder, for the whole run (every xdist worker), of the parsed CC-CEDICT and WordNet indexes
    (graph.cedict_index, graph.wordnet): pure functions of the packaged dictionaries, named by their content hash
    and rule version, written atomically, so workers that parse the same dictionary at once write the same bytes."""
    folder = session_root(tmp_path_factory) / "dictionary-cache"
    folder.mkdir(exist_ok=True)
    return folder


def own_cache(folder: Path, dictionary_cache: Path) -> Path:
    """`folder` made a cache of its own (features, ConceptNet DBs, text vectors) whose bridge/ (the dictionary
    indexes) is the session's shared one."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bridge").symlink_to(dictionary_cache, target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def live_base(tmp_path_factory, dictionary_cache) -> Path:
    """tests/live_run.make_live_base once a run, in whichever worker asks first (its corpus stays where it is): the
    live-catalogue test modules each copy it and fit their own scorers instead of building, training and
    extracting it again. Nothing writes into it: the modules read it only to copy it. Every worker registers the
    test backbone its features name (a worker that did not build it would not know it: 'unknown backbone')."""
    import tests.serve_main  # noqa: F401 - registers the test backbone
    from tests.live_run import make_live_base

    def build(tmp: Path) -> Path:
        with pytest.MonkeyPatch.context() as mp:  # session scope: before the per-test cache fixture
            mp.setenv("IMG2SONG_CACHE", str(own_cache(tmp / "cache", dictionary_cache)))
            return make_live_base(tmp)

    return built_once(session_root(tmp_path_factory), "live-base", build)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch, dictionary_cache):
    """Every test gets caches of its own (features, ConceptNet DBs, text vectors): a result from another test never
    leaks in. Only the dictionary indexes (cache/bridge) are shared: parsing CC-CEDICT again costs ~4 s of CPU in
    every fresh cache (each process: servers and CLI subprocesses too), and what is read back is keyed by the
    dictionaries' content. The tests of that cache itself point IMG2SONG_CACHE at folders of their own."""
    monkeypatch.setenv("IMG2SONG_CACHE", str(own_cache(tmp_path_factory.mktemp("cache"), dictionary_cache)))


# --- the order files are handed to pytest-xdist workers ---------------------------------------------------------
# The files that took longest in session 9's make test (summed --durations), heaviest first. Under xdist (make test:
# --dist loadfile --no-loadscope-reorder) they are handed out first, so that no worker starts a long file while
# the other is nearly done. Only the order changes: every test still runs, each file whole in one worker, and
# within a file in its own order.
HEAVY_FIRST = ("test_fuzz_entry.py", "test_kill_stages.py", "test_bridge.py", "test_text_encoder.py",
               "test_notebooks.py", "test_readme_commands.py", "test_fuzz.py", "test_line_triton.py",
               "test_live_probe.py", "test_bench_retrieval.py", "test_catalogue_serve.py", "test_distributed.py",
               "test_partitioned.py", "test_usage.py", "test_thesauri.py", "test_text_int8.py",
               "test_live_catalogue.py", "test_line_cpu.py", "test_hostile_regressions.py")


def pytest_configure(config):
    """An xdist worker's torch uses its share of the cores (cores // workers, at least 1): two workers that each
    ran one intra-op thread per core would oversubscribe a 2-core machine. Tests that set a thread count still do;
    subprocesses (CLI commands, servers) keep the product's own default."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if os.environ.get("PYTEST_XDIST_WORKER") and workers > 0:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every worker sorts the same way: xdist checks they agree
        rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
        items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


# --- fuzz counts (tests/test_fuzz.py): generated cases per loader / command, printed in the terminal summary ----
_FUZZ_COUNTS: dict[str, dict[str, int]] = {}  # loader / command -> outcome -> cases


@pytest.fixture(scope="session")
def fuzz_counts() -> dict[str, dict[str, int]]:
    return _FUZZ_COUNTS


def pytest_sessionfinish(session):
    """An xdist worker hands its fuzz counts to the controller, which prints the summary."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["fuzz_counts"] = json.dumps(_FUZZ_COUNTS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """The controller adds up a finished worker's fuzz counts (pytest-xdist's hook; absent without it)."""
    for name, outcomes in json.loads(getattr(node, "workeroutput", {}).get("fuzz_counts", "{}")).items():
        mine = _FUZZ_COUNTS.setdefault(name, {})
        for outcome, n in outcomes.items():
            mine[outcome] = mine.get(outcome, 0) + n


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _FUZZ_COUNTS:
        terminalreporter.section("fuzz cases per loader / command")
        for name, outcomes in sorted(_FUZZ_COUNTS.items()):
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
            terminalreporter.write_line(f"{name:34s} {sum(outcomes.values()):6d}  ({detail})")
        total = sum(sum(o.values()) for o in _FUZZ_COUNTS.values())
        terminalreporter.write_line(f"{'total':34s} {total:6d}")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket or to fetch weights from a hub fails the test."""
    import socket

    import torch

    def refuse(*a, **k):
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
