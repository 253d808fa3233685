# shellcheck shell=bash
# Sourced by scripts/test.sh: installs Debian's chromium (the browser test
# integration/web_test.go drives it headless through chromedp) and a font
# with Traditional Chinese glyphs (fonts-wqy-microhei, 5 MB) so the zh-Hant
# screenshots show text, when they are missing. Defines
# install_chromium_if_missing; running it twice does nothing.

install_chromium_if_missing() {
  local need=() sudo=""
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
  [ ${#need[@]} -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing ${need[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
