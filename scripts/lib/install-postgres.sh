# shellcheck shell=bash
# Sourced by scripts/test.sh: installs PostgreSQL (Debian package postgresql)
# when it is missing, without letting the package start a system cluster
# (policy-rc.d; no systemd here). The tests (internal/pgtest) create their
# own cluster with initdb in a temporary directory and start postgres on a
# free loopback port, as the postgres user when run as root. Defines
# install_postgres_if_missing; running it twice does nothing.

install_postgres_if_missing() {
  local sudo="" created_policy=""
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing postgresql"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # Keep the package from starting a system PostgreSQL on port 5432.
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  [ -z "$created_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
}
