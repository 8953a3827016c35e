"""report.html in a real browser: headless Chromium (Debian's) driven by selenium through /usr/bin/chromedriver.

Skips, saying why, when Chromium, chromedriver or selenium is missing, except under `make test`
(IMG2SONG_REQUIRE_BROWSER=1), which installs them first (tests/setup_browser.sh) and fails without them.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np
import pytest
from PIL import Image

from evaluation.measure.browser import FLAGS, find_chromedriver, find_chromium
from evaluation.stages.html_report import screenshot
from evaluation.stages.protocol import evaluate_run
from tests.scorer_contract import make_run, set_song_title

XSS = "<script>alert(1)</script>"
K = 3  # fewer songs than the tiny corpus holds, so that some queries miss


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401  (deferred: without selenium the module skips instead of failing)
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if find_chromium() is None:
        return "no Chromium binary (Debian: apt-get install -y chromium chromium-driver; .ci/run does this)"
    if find_chromedriver() is None:
        return "no chromedriver (Debian: apt-get install -y chromium-driver; .ci/run does this)"
    return None


if _missing() is not None and os.environ.get("IMG2SONG_REQUIRE_BROWSER") == "1":  # make test: a skip is no pass
    raise RuntimeError(f"the browser tests cannot run: {_missing()} (make test runs tests/setup_browser.sh first)")
pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny real run (corpus, network, embeddings, features), a song titled like a script, evaluated."""
    root = tmp_path_factory.mktemp("browser")
    run = make_run(root)
    set_song_title(root / "corpus", "s1", XSS)  # a hit of KM for q1 (月)
    evaluate_run(run, scorers=("ne", "km", "pop"), cache_dir=root / "cn", k=K, n_boot=100, progress=False)
    return run


@pytest.fixture(scope="module")
def driver():
    # deferred: selenium may be missing (the module then skips)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = find_chromium()
    profile = tempfile.TemporaryDirectory(prefix="img2song-selenium-")
    for flag in (*FLAGS, f"--user-data-dir={profile.name}", "--window-size=1280,900"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=find_chromedriver()), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()
    profile.cleanup()


def _visible_cards(drv) -> list[str]:
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('section.card'))"
        ".filter(c => c.offsetParent !== null).map(c => c.dataset.image);")


def _choose(drv, select_id: str, value: str) -> None:
    # deferred: selenium may be missing (the module then skips)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(drv.find_element(By.ID, select_id)).select_by_value(value)


def test_report_renders_in_chromium(run, driver, tmp_path):
    # deferred: selenium may be missing (the module then skips)
    from selenium.common.exceptions import NoAlertPresentException

    rows = [json.loads(line) for line in (run / "per_query.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = sorted({r["image"] for r in rows})
    driver.get((run / "report.html").resolve().as_uri())
    driver.execute_script("return document.readyState")  # page and script done (get() waits for load)
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # one card per query image; every thumbnail (query, NE neighbours, NE "via") loaded from report_assets/
    cards = driver.execute_script("return document.querySelectorAll('section.card').length")
    imgs = driver.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]);")
    loaded = [src for src, done, w in imgs if done and w > 0]
    query_thumbs = driver.execute_script("return document.querySelectorAll('img.thumb.query').length")
    neighbour_thumbs = driver.execute_script("return document.querySelectorAll('img.thumb.neighbour').length")
    assert cards == len(queries) == 3
    assert query_thumbs == 3 and neighbour_thumbs > 0
    assert len(loaded) == len(imgs) > query_thumbs + neighbour_thumbs  # + the NE songs' "via" thumbnails
    assert all(src.startswith("report_assets/thumbs/") for src, _, _ in imgs)

    # the script-like title is text: shown verbatim, no alert, no extra <script> element
    titles = driver.execute_script("return Array.from(document.querySelectorAll('.title')).map(t => t.textContent)")
    assert XSS in titles
    assert driver.execute_script("return document.scripts.length") == 2  # report data + the page's own script
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018

    # filters: a keyword keeps exactly its queries; hits/misses of one scorer split the cards as per_query says
    _choose(driver, "f-keyword", "花")
    assert _visible_cards(driver) == [i for i in queries if "花" in next(r for r in rows if r["image"] == i)
                                      ["keywords"]] == ["q2"]
    _choose(driver, "f-keyword", "")
    n_index = driver.execute_script("return JSON.parse(document.getElementById('report-data').textContent)"
                                    ".defaultN")
    n = json.loads((run / "report.json").read_text(encoding="utf-8"))["ns"][n_index]
    hit = {r["image"]: any(r["hits"]) for r in rows if (r["protocol"], r["scorer"], r["n"]) == ("photo", "pop", n)}
    assert hit == {"q1": True, "q2": True, "q3": False}  # POP's seeded picks for q3 hold neither 船 nor 舟
    _choose(driver, "f-scorer", "photo/pop")
    _choose(driver, "f-hits", "misses")
    misses = _visible_cards(driver)
    assert misses == ["q3"]
    _choose(driver, "f-hits", "hits")
    assert _visible_cards(driver) == ["q1", "q2"]
    shown_cols = driver.execute_script("return Array.from(document.querySelectorAll('.col'))"
                                       ".filter(c => c.offsetParent !== null).map(c => c.dataset.col)")
    assert shown_cols == ["photo/pop", "photo/pop"]  # the scorer filter hides the other scorers' columns
    _choose(driver, "f-scorer", "oracle/km")  # KM with the keyword hits every query (s1 s5 s7 / s3 s4 / s2 s8)
    assert _visible_cards(driver) == queries
    _choose(driver, "f-hits", "misses")
    assert _visible_cards(driver) == []
    # sort: fewest hits first (of the selected scorer) puts POP's miss first
    _choose(driver, "f-scorer", "photo/pop")
    _choose(driver, "f-hits", "")
    _choose(driver, "f-sort", "fewest")
    order = driver.execute_script("return Array.from(document.querySelectorAll('section.card'))"
                                  ".map(c => c.dataset.image)")
    assert order == ["q3", "q1", "q2"]

    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    print(f"\nDOM: {cards} query cards, {len(loaded)}/{len(imgs)} thumbnails loaded ({query_thumbs} query, "
          f"{neighbour_thumbs} NE neighbours), keyword filter 花 -> {['q2']}, pop misses -> {misses}, "
          f"console errors: {len(errors)}; screenshot {shot}")


def test_screenshot_of_the_first_screen(run):
    path = screenshot(run)
    assert path == run / "report_screenshot.png"
    with Image.open(path) as im:
        assert im.size == (1280, 900)
        assert len(set(np.asarray(im.convert("L").resize((32, 32))).ravel().tolist())) > 4  # something rendered, not a blank page
