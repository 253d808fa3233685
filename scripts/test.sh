#!/usr/bin/env bash
# Runs bindery's whole test suite: formatting, vet, unit and integration tests
# (against a real OpenLDAP slapd and real OpenLDAP clients), with the race
# detector, then each fuzz target briefly.
#
# It installs what the tests need when missing (Debian: slapd, ldap-utils),
# without letting the package start a system slapd. The tests start their own
# servers on free loopback ports.
# apache2 is installed the same way for the mod_authnz_ldap test
# (scripts/lib/install-apache.sh), and Debian's chromium with a Chinese font
# for the browser test of the PIN page (scripts/lib/install-chromium.sh).
#
#   FUZZTIME=30s scripts/test.sh   # longer fuzzing (default 10s per target)
#   BINDERY_LONG=1 scripts/test.sh # full-size attack and load tests
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

# shellcheck source=lib/install-slapd.sh
. scripts/lib/install-slapd.sh
install_slapd_if_missing
# shellcheck source=lib/install-apache.sh
. scripts/lib/install-apache.sh
install_apache_if_missing
# shellcheck source=lib/install-chromium.sh
. scripts/lib/install-chromium.sh
install_chromium_if_missing
# shellcheck source=lib/install-postgres.sh
. scripts/lib/install-postgres.sh
install_postgres_if_missing
# shellcheck source=lib/install-haproxy.sh
. scripts/lib/install-haproxy.sh
install_haproxy_if_missing

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
# The integration tests must not skip for want of slapd in CI.
export BINDERY_REQUIRE_SLAPD=1
# Nor for want of PostgreSQL or HAProxy (internal/pgtest, integration/multi_test.go).
export BINDERY_REQUIRE_SERVERS=1
go test -race -count=1 -timeout 45m ./...

echo "== fuzz (${FUZZTIME:=10s} per target)"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"
  done
done
echo "== all tests passed"
