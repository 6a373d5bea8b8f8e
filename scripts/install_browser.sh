#!/usr/bin/env bash
# Installs what tests/browser/ needs to drive JupyterLab in a real browser:
# Debian's chromium and chromium-driver (/usr/bin/chromium), two small fonts
# (DejaVu for Latin text, WenQuanYi Micro Hei so the notebooks' Chinese terms
# show in the screenshots instead of empty boxes) and the Python Playwright
# package. Playwright never downloads a browser of its own here (no
# `playwright install`): the tests launch /usr/bin/chromium with executable_path.
# Idempotent: does nothing when everything is present. Usage (root, or sudo):
#     bash scripts/install_browser.sh        # PYTHON=python3.11 to pick the interpreter
set -euo pipefail

PYTHON="${PYTHON:-python}"

need_apt=0
for bin in /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$bin" ] || need_apt=1
done
for font in /usr/share/fonts/truetype/dejavu /usr/share/fonts/truetype/wqy; do
    [ -d "$font" ] || need_apt=1
done

if [ "$need_apt" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        SUDO=sudo
    else
        SUDO=
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver fonts-dejavu-core fonts-wqy-microhei >/dev/null
fi

if ! "$PYTHON" -c "import playwright.sync_api" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet "playwright>=1.40"
fi

/usr/bin/chromium --version 2>/dev/null
"$PYTHON" -c "import importlib.metadata as m; print('playwright', m.version('playwright'))"
