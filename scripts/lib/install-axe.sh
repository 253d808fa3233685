# shellcheck shell=bash
# Sourced by scripts/test.sh: installs axe-core (the npm package, one
# JavaScript file) for the accessibility checks of the browser tests
# (integration/axe_test.go injects it into Chromium), when it is missing.
# It goes into a cache folder outside the repository, never into the tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/bindery/axe-core-$AXE_VERSION
# and BINDERY_AXE_JS is exported with the path of axe.min.js. npm comes from
# Debian (package npm) when missing. Defines install_axe_if_missing; running
# it twice does nothing.

AXE_VERSION=4.14.1

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# axe_missing lists the Debian packages axe-core's install needs (npm).
axe_missing() {
  command -v npm >/dev/null 2>&1 || echo npm
}

install_axe_if_missing() {
  local dir
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/bindery/axe-core-$AXE_VERSION"
  export BINDERY_AXE_JS="$dir/node_modules/axe-core/axe.min.js"
  [ -s "$BINDERY_AXE_JS" ] && return 0
  # shellcheck disable=SC2046 # one word per package
  apt_install $(axe_missing)
  echo "== installing axe-core@$AXE_VERSION into $dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock --silent "axe-core@$AXE_VERSION" >/dev/null
  [ -s "$BINDERY_AXE_JS" ]
}
