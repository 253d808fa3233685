#!/bin/sh
# check_bindery.sh: a Nagios/Icinga-style check of a running bindery.
# It binds as a service account (and, with -p, as a test patron) with the
# OpenLDAP clients; exit 0 OK, 1 WARNING (slow), 2 CRITICAL, 3 UNKNOWN.
#
#   check_bindery.sh -H ldap://ldap.library.example.edu -D cn=monitor,ou=services,dc=library,dc=example,dc=edu -y /etc/nagios/bindery.pw
#   check_bindery.sh ... -p uid=CU0000001,ou=people,dc=library,dc=example,dc=edu -q /etc/nagios/patron.pw
#
# Exit statuses of ldapwhoami are LDAP result codes: 49 wrong password,
# 52 the campus directory is unavailable, 51 bindery is busy.
set -u
uri=ldap://127.0.0.1 dn= pwfile= pdn= ppwfile= warn=2
while getopts H:D:y:p:q:w: o; do
  case $o in
    H) uri=$OPTARG ;; D) dn=$OPTARG ;; y) pwfile=$OPTARG ;;
    p) pdn=$OPTARG ;; q) ppwfile=$OPTARG ;; w) warn=$OPTARG ;;
    *) echo "UNKNOWN: bad option"; exit 3 ;;
  esac
done
[ -n "$dn" ] && [ -r "$pwfile" ] || { echo "UNKNOWN: need -D DN -y PASSWORD_FILE"; exit 3; }
command -v ldapwhoami >/dev/null || { echo "UNKNOWN: ldapwhoami not installed (ldap-utils)"; exit 3; }

bind() { # $1 dn, $2 password file
  start=$(date +%s)
  out=$(LDAPTLS_REQCERT=demand timeout 20 ldapwhoami -x -ZZ -H "$uri" -D "$1" -y "$2" 2>&1)
  rc=$?
  took=$(( $(date +%s) - start ))
}

bind "$dn" "$pwfile"
if [ $rc -ne 0 ]; then echo "CRITICAL: service bind failed (exit $rc): $out"; exit 2; fi
status=0 msg="service bind OK in ${took}s"
[ "$took" -ge "$warn" ] && status=1
if [ -n "$pdn" ]; then
  bind "$pdn" "$ppwfile"
  case $rc in
    0) msg="$msg; patron bind OK in ${took}s"; [ "$took" -ge "$warn" ] && status=1 ;;
    52) echo "CRITICAL: $msg; patron bind: campus directory unavailable (52)"; exit 2 ;;
    *) echo "CRITICAL: $msg; patron bind failed (exit $rc): $out"; exit 2 ;;
  esac
fi
[ $status -eq 1 ] && { echo "WARNING: $msg|took=${took}s"; exit 1; }
echo "OK: $msg|took=${took}s"
