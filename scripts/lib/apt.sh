# shellcheck shell=bash
# Sourced by the install-*.sh scripts: apt_install installs Debian packages
# without letting them start any service (a policy-rc.d of its own for the
# duration, removed after unless it was there before), with one
# `apt-get update` and one `apt-get install` for all of them: on a fresh
# machine every separate apt-get run costs its own index read and dpkg
# triggers. Waits for another apt/dpkg to finish (DPkg::Lock::Timeout).
# Does nothing when given no package.

apt_install() {
  [ $# -gt 0 ] || return 0
  local sudo="" created_policy="" start=$SECONDS
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing $*"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  local rc=0
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends "$@" >/dev/null || rc=$?
  [ -z "$created_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
  echo "== installed in $((SECONDS - start))s"
  return "$rc"
}
