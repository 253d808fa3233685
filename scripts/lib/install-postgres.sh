# shellcheck shell=bash
# Sourced by scripts/test.sh and the bench scripts: PostgreSQL (Debian
# package postgresql), installed when missing without letting it start a
# system cluster (scripts/lib/apt.sh; no systemd here). The tests
# (internal/pgtest) create their own cluster with initdb in a temporary
# directory and start postgres on a free loopback port, as the postgres
# user when run as root. postgres_missing lists what is missing;
# install_postgres_if_missing installs it.

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

postgres_missing() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || echo postgresql
}

install_postgres_if_missing() {
  # shellcheck disable=SC2046 # one word per package
  apt_install $(postgres_missing)
}
