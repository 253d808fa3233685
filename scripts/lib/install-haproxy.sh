# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/bench.sh: installs HAProxy (Debian
# package haproxy) when it is missing, without letting the package start a
# system haproxy (policy-rc.d). The multi-instance test and the bench start
# their own haproxy in the foreground with their own config. Defines
# install_haproxy_if_missing; running it twice does nothing.

install_haproxy_if_missing() {
  local sudo="" created_policy=""
  command -v haproxy >/dev/null 2>&1 && return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing haproxy"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null
  [ -z "$created_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
}
