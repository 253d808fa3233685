# shellcheck shell=bash
# Sourced by scripts/test.sh: Debian's chromium (the browser tests drive it
# headless through chromedp) and a font with Traditional Chinese glyphs
# (fonts-wqy-microhei, 5 MB) so the zh-Hant screenshots show text,
# installed when missing (scripts/lib/apt.sh). chromium_missing lists what
# is missing; install_chromium_if_missing installs it.

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

chromium_missing() {
  command -v chromium >/dev/null 2>&1 || echo chromium
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || echo fonts-wqy-microhei
}

install_chromium_if_missing() {
  # shellcheck disable=SC2046 # one word per package
  apt_install $(chromium_missing)
}
