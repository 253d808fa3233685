# shellcheck shell=bash
# Sourced by scripts/test.sh: Apache httpd (Debian package apache2, which
# brings mod_ldap and mod_authnz_ldap), installed when missing without
# letting it start a system httpd on port 80 (scripts/lib/apt.sh). The
# integration test TestApacheModAuthnzLDAP starts its own httpd on a free
# loopback port. apache_missing lists what is missing;
# install_apache_if_missing installs it.

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

apache_missing() {
  [ -x /usr/sbin/apache2 ] && [ -e /usr/lib/apache2/modules/mod_authnz_ldap.so ] || echo apache2
}

install_apache_if_missing() {
  # shellcheck disable=SC2046 # one word per package
  apt_install $(apache_missing)
}
