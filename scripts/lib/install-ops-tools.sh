# shellcheck shell=bash
# Sourced by scripts/test.sh: installs what the packaging and operations
# tests check bindery's files with, when missing (Debian packages, no
# service started: policy-rc.d): lintian (integration/package_test.go),
# prometheus for promtool and mtail (integration/examples_test.go).
# Defines install_ops_tools_if_missing; running it twice does nothing.
# Measured on the 2-core machine: prometheus 11 s, mtail 4 s, lintian
# 100 s (its Perl dependencies) under load.

install_ops_tools_if_missing() {
  local need=() sudo="" created_policy=""
  command -v lintian >/dev/null 2>&1 || need+=(lintian)
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  command -v mtail >/dev/null 2>&1 || need+=(mtail)
  [ ${#need[@]} -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing ${need[*]}"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$created_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
}
