# shellcheck shell=bash
# Sourced by scripts/test.sh and the bench scripts: OpenLDAP's slapd and
# ldap-utils (Debian packages), installed when missing without letting the
# package start a system slapd on port 389 (scripts/lib/apt.sh). Callers
# put /usr/sbin on PATH first and start their own slapd. slapd_missing
# lists what is missing; install_slapd_if_missing installs it.

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

slapd_missing() {
  command -v slapd >/dev/null 2>&1 || echo slapd
  command -v ldapwhoami >/dev/null 2>&1 || echo ldap-utils
}

install_slapd_if_missing() {
  # shellcheck disable=SC2046 # one word per package
  apt_install $(slapd_missing)
}
