#!/usr/bin/env bash
# Installs Debian's chromium when missing: the portal's browser test drives it headless
# (chromedp). Run by `make deps`; safe to run again.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
echo "==> installing chromium (the portal's browser test drives it headless)"
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
