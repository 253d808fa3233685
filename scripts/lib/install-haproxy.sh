# shellcheck shell=bash
# Sourced by scripts/test.sh and the bench scripts: HAProxy (Debian package
# haproxy), installed when missing without letting it start a system
# haproxy (scripts/lib/apt.sh). The multi-instance tests and the bench
# start their own haproxy in the foreground with their own config.
# haproxy_missing lists what is missing; install_haproxy_if_missing
# installs it.

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

haproxy_missing() {
  command -v haproxy >/dev/null 2>&1 || echo haproxy
}

install_haproxy_if_missing() {
  # shellcheck disable=SC2046 # one word per package
  apt_install $(haproxy_missing)
}
