#!/usr/bin/env bash
# What `make test` needs beyond Python: Debian's chromium + chromedriver (the report's browser tests) and a CJK font
# (so its screenshots show the lyrics). Installed here when missing and this user may install (root, or sudo
# without a password); otherwise the run stops and names the command, since a skipped browser test is not a pass.
set -euo pipefail
have() { command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list 2>/dev/null | grep -qi "wqy\|noto.*cjk"; }
have && exit 0
PKGS="chromium chromium-driver fonts-wqy-zenhei"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi
if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null; then
  echo "make test: the browser tests need Chromium, chromedriver and a CJK font, and they are not installed." >&2
  echo "Install them, then run make test again:  sudo apt-get install -y $PKGS" >&2
  exit 1
fi
echo "make test: installing $PKGS (Debian packages, for the report's browser tests) ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends $PKGS >/dev/null
have || { echo "make test: $PKGS installed but chromium/chromedriver/font still not found" >&2; exit 1; }
