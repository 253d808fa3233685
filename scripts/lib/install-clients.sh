# shellcheck shell=bash
# Sourced by scripts/test.sh: installs the client libraries and PAM/NSS
# stacks that library systems are built on (Debian packages), when missing,
# for integration/libraries_test.go and integration/pam_test.go:
#
#   libnet-ldap-perl          Perl Net::LDAP (Koha)
#   php-cli php-ldap          PHP ldap (VuFind)
#   default-jdk-headless      Java JNDI (Keycloak); `java File.java` needs the compiler
#   python3-ldap3             Python ldap3
#   nslcd libnss-ldapd libpam-ldapd     nslcd + pam_ldap
#   sssd-ldap libpam-sss libnss-sss     SSSD
#   pamtester                 drives a PAM service from a test
#
# No daemon starts (policy-rc.d), and what the packages change in the
# system's PAM and NSS set-up is put back: libpam-ldapd and libpam-sss run
# pam-auth-update, which adds pam_ldap / pam_sss to /etc/pam.d/common-*, and
# libnss-sss adds "sss" to /etc/nsswitch.conf. Those files are saved before
# and restored after, the two PAM profiles are switched off in
# pam-auth-update's own state, so a later package does not bring them
# back. The tests then use their own PAM service file and `getent -s`.
# clients_missing lists what is missing; install_clients_if_missing
# installs it, with_system_pam_kept runs any install (scripts/test.sh
# installs everything at once) and puts the PAM and NSS files back.

# shellcheck source=apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

clients_missing() {
  local need=()
  perl -MNet::LDAP -e1 >/dev/null 2>&1 || need+=(libnet-ldap-perl)
  command -v php >/dev/null 2>&1 || need+=(php-cli)
  php -m 2>/dev/null | grep -qx ldap || need+=(php-ldap)
  command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
  /usr/bin/python3 -c 'import ldap3' >/dev/null 2>&1 || need+=(python3-ldap3)
  [ -x /usr/sbin/nslcd ] || need+=(nslcd)
  ls /lib/x86_64-linux-gnu/libnss_ldap.so.2 /usr/lib/*/libnss_ldap.so.2 >/dev/null 2>&1 || need+=(libnss-ldapd)
  ls /lib/*/security/pam_ldap.so /usr/lib/*/security/pam_ldap.so >/dev/null 2>&1 || need+=(libpam-ldapd)
  ls /usr/lib/*/sssd/libsss_ldap.so >/dev/null 2>&1 || need+=(sssd-ldap)
  ls /lib/*/security/pam_sss.so /usr/lib/*/security/pam_sss.so >/dev/null 2>&1 || need+=(libpam-sss)
  ls /lib/*/libnss_sss.so.2 /usr/lib/*/libnss_sss.so.2 >/dev/null 2>&1 || need+=(libnss-sss)
  command -v pamtester >/dev/null 2>&1 || need+=(pamtester)
  echo "${need[@]}"
}

install_clients_if_missing() {
  # shellcheck disable=SC2046 # one word per package
  with_system_pam_kept apt_install $(clients_missing)
}

# with_system_pam_kept runs a command (an install) and then puts back the
# system's PAM and NSS files as they were before it, and switches the
# ldap and sss PAM profiles off in pam-auth-update's own state.
with_system_pam_kept() {
  local sudo="" saved f rc=0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  saved=$(mktemp -d)
  for f in /etc/nsswitch.conf /etc/pam.d/common-auth /etc/pam.d/common-account /etc/pam.d/common-password \
    /etc/pam.d/common-session /etc/pam.d/common-session-noninteractive; do
    [ -e "$f" ] && $sudo cp -p "$f" "$saved/$(basename "$f")"
  done
  "$@" || rc=$?
  if command -v pam-auth-update >/dev/null 2>&1; then
    $sudo env DEBIAN_FRONTEND=noninteractive pam-auth-update --disable ldap sss >/dev/null 2>&1 || true
  fi
  for f in "$saved"/*; do
    [ -e "$f" ] || continue
    case $(basename "$f") in
    nsswitch.conf) $sudo cp -p "$f" /etc/nsswitch.conf ;;
    *) $sudo cp -p "$f" "/etc/pam.d/$(basename "$f")" ;;
    esac
  done
  rm -rf "$saved"
  return "$rc"
}
