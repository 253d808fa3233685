# shellcheck shell=bash
# Sourced by scripts/test.sh: installs Apache httpd (Debian package apache2,
# which brings mod_ldap and mod_authnz_ldap) when it is missing, without
# letting the package start a system httpd on port 80. The integration test
# TestApacheModAuthnzLDAP starts its own httpd with its own config on a free
# loopback port. Defines install_apache_if_missing; running it twice does
# nothing.

install_apache_if_missing() {
  local sudo="" created_policy=""
  [ -x /usr/sbin/apache2 ] && [ -e /usr/lib/apache2/modules/mod_authnz_ldap.so ] && return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing apache2"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # Keep the package from starting a system httpd on port 80.
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apache2 >/dev/null
  [ -z "$created_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
}
