# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/bench.sh: installs OpenLDAP's slapd
# and ldap-utils (Debian packages) when they are missing, without letting the
# package start a system slapd on port 389. Callers put /usr/sbin on PATH
# first. Defines install_slapd_if_missing; running it twice does nothing.

install_slapd_if_missing() {
  local need=() sudo="" created_policy=""
  command -v slapd >/dev/null 2>&1 || need+=(slapd)
  command -v ldapwhoami >/dev/null 2>&1 || need+=(ldap-utils)
  [ ${#need[@]} -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing ${need[*]}"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # Keep the package from starting a system slapd on port 389.
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$created_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
  # A system slapd started by the package, if any, is not ours: callers start their own.
}
