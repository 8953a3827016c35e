"""Headless Chromium for report pages: find the browser, the flags that keep it offline, a first-screen screenshot.

Nothing is downloaded: the browser is the system's (Debian `chromium`), or the one $IMG2SONG_CHROMIUM names.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError

ENV_CHROMIUM = "IMG2SONG_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# offline, quiet, reproducible: no sandbox (root in containers), no GPU, nothing phoned home
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary ($IMG2SONG_CHROMIUM first), or None."""
    env = os.environ.get(ENV_CHROMIUM)
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def find_chromedriver() -> str | None:
    return shutil.which("chromedriver") or next((p for p in ("/usr/bin/chromedriver",
                                                             "/usr/lib/chromium/chromedriver") if Path(p).is_file()),
                                                 None)


def screenshot_page(html: str | Path, out: str | Path, width: int = 1280, height: int = 900,
                    timeout_s: float = 90.0) -> Path:
    """PNG of the first screen (width x height) of a local HTML file, written atomically to `out`."""
    html, out = Path(html).resolve(), Path(out)
    if not html.is_file():
        raise Img2SongError(f"{html}: page not found")
    exe = find_chromium()
    if exe is None:
        raise Img2SongError(f"no Chromium found ({', '.join(CANDIDATES)} or ${ENV_CHROMIUM}); on Debian: "
                            "apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="img2song-chromium-") as profile, atomic_path(out) as tmp:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={tmp}", "--virtual-time-budget=3000", html.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise Img2SongError(f"{exe}: no screenshot of {html} within {timeout_s:.0f} s") from None
        if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise Img2SongError(f"{exe}: screenshot of {html} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return out
