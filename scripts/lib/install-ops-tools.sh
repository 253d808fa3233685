# shellcheck shell=bash
# Sourced by scripts/test.sh: what the packaging and operations tests check
# bindery's files with, installed when missing (scripts/lib/apt.sh):
# lintian (integration/package_test.go), prometheus for promtool and mtail
# (integration/examples_test.go). Measured on the 2-core machine:
# prometheus 11 s, mtail 4 s, lintian 100 s (its Perl dependencies) under
# load. ops_tools_missing lists what is missing;
# install_ops_tools_if_missing installs it.

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ops_tools_missing() {
  command -v lintian >/dev/null 2>&1 || echo lintian
  command -v promtool >/dev/null 2>&1 || echo prometheus
  command -v mtail >/dev/null 2>&1 || echo mtail
}

install_ops_tools_if_missing() {
  # shellcheck disable=SC2046 # one word per package
  apt_install $(ops_tools_missing)
}
