"""kill -9 at seeded random points of the ConceptNet DB build: the next run finishes, removes what the killed ones
left, and gives exactly the uninterrupted result. (The stages' kills, timed on their reported progress with the
partial state asserted, are in tests/test_kill_stages.py.)"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from graph.common.atomic import temp_owner

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def killed_during(argv: list[str], started, delay: float, timeout: float = 120.0) -> int:
    """Start argv; once started(stderr text so far) is true, SIGKILL it `delay` seconds later (unless it ended
    first); returns its pid. Waiting for the work to begin puts the kills into the work, not the imports."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: list[bytes] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: proc.stderr.read1(4096), b"")), daemon=True)
    reader.start()
    t_end = time.monotonic() + timeout
    while proc.poll() is None and not started(b"".join(seen).decode("utf-8", "replace")):
        assert time.monotonic() < t_end, "the command never started its work"
        time.sleep(0.01)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    reader.join(timeout=5)
    proc.stderr.close()
    return proc.pid


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if temp_owner(p.name) is not None)


def _db_rows(db: Path) -> list[tuple]:
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sorted(con.execute(
            "SELECT r.name, ls.text, le.text, e.etc FROM edge e JOIN relation r ON r.id = e.relation_id "
            "JOIN concept cs ON cs.id = e.start_id JOIN label ls ON ls.id = cs.label_id "
            "JOIN concept ce ON ce.id = e.end_id JOIN label le ON le.id = ce.label_id").fetchall())
    finally:
        con.close()


@pytest.mark.slow
def test_kill9_conceptnet_db_build_then_finish_equals_uninterrupted(tmp_path):
    from evaluation.measure.groundtruth import build_db_from_dump
    from tests.scorer_contract import write_dump

    rows = [("/r/RelatedTo", f"/c/zh/月{i % 97}", f"/c/zh/光{i}", 1.0 + i % 7) for i in range(5000)]
    dump = write_dump(tmp_path / "related_words.tsv.gz", rows)
    t0 = time.perf_counter()
    want = _db_rows(build_db_from_dump(dump, tmp_path / "ref"))
    build_s = time.perf_counter() - t0

    cache = tmp_path / "cache"
    code = f"from evaluation.measure.groundtruth import build_db_from_dump; build_db_from_dump({str(dump)!r}, {str(cache)!r})"
    argv = [sys.executable, "-c", code]
    building = lambda _err: cache.is_dir() and any(p.name.startswith(".build-") for p in cache.iterdir())
    rng = random.Random(14)
    killed = 0
    for _ in range(3):  # killed at a seeded point after its `.build-<pid>-*` folder appeared
        pid = killed_during(argv, building, rng.uniform(0.0, 1.2 * build_s))
        killed += any(temp_owner(p.name) == pid for p in cache.iterdir())
        if any(cache.glob("*.db")):  # the build ended before the kill: start over for the next kill
            shutil.rmtree(cache)
    done = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert leftovers(cache) == []  # every `.build-<pid>-*` of a killed build is gone
    dbs = list(cache.glob("*.db"))
    assert len(dbs) == 1 and _db_rows(dbs[0]) == want
    assert killed >= 1  # at least one kill landed mid-build and left a folder that the last run removed
