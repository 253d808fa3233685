#!/usr/bin/env bash
# Builds the Debian package dist/bindery_<version>_<arch>.deb: static
# binaries (CGO_ENABLED=0, stripped, the version set with -ldflags), the
# systemd units from deploy/ with /usr/bin paths, the configuration
# template deploy/debian/bindery.toml as a conffile, the documentation and
# man pages made from --help, and the maintainer scripts of deploy/debian.
#
# nfpm (github.com/goreleaser/nfpm/v2) runs as a Go tool of the separate
# module in tools/, so its dependencies stay out of bindery's go.mod; no
# Docker, nothing fetched but Go modules.
#
#   scripts/package.sh                     # version 0.1.0~dev.<commit time>
#   BINDERY_VERSION=1.2.3 scripts/package.sh
#   GOARCH=arm64 scripts/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$PATH:/usr/local/go/bin"

commit_time=$(git log -1 --format=%ct 2>/dev/null || date +%s)
version=${BINDERY_VERSION:-0.1.0~dev.${commit_time}}
case $version in
[0-9]*) ;;
*) echo "package.sh: BINDERY_VERSION must start with a digit (Debian versions do): $version" >&2; exit 2 ;;
esac
arch=${GOARCH:-$(go env GOARCH)}
build=$root/dist/build
rm -rf "$build"
mkdir -p "$build/doc" "$build/man"

echo "== building bindery $version ($arch)"
GOARCH=$arch CGO_ENABLED=0 go build -trimpath -buildmode=pie \
  -ldflags "-s -w -X github.com/bindery/bindery/internal/version.Version=$version" \
  -o "$build/" ./cmd/bindery ./cmd/binderyctl

# The units as installed by the package: binaries in /usr/bin.
for unit in bindery.service bindery.socket; do
  sed 's|/usr/local/bin/|/usr/bin/|g' "deploy/$unit" >"$build/$unit"
done

# Documentation: compressed as Debian policy asks (gzip -9n).
cp README.md "$build/doc/README.md"
cp deploy/README.md "$build/doc/deploy.md"
mkdir -p "$build/doc/docs" "$build/doc/examples"
cp docs/*.md "$build/doc/docs/"
cp deploy/examples/* configs/example.toml "$build/doc/examples/"
find "$build/doc" -type f \( -name '*.md' -o -name '*.txt' \) -size +4k -exec gzip -9n {} +
cp deploy/debian/copyright "$build/doc/copyright"
date=$(date -R -u -d "@$commit_time")
cat >"$build/doc/changelog" <<CHANGELOG
bindery ($version) unstable; urgency=medium

  * Built by scripts/package.sh from commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown).

 -- bindery maintainers <maintainers@bindery.example.org>  $date
CHANGELOG
gzip -9n "$build/doc/changelog"

# Man pages from each command's own help text.
manpage() { # name, one-line summary, help text
  {
    printf '.TH %s 8 "%s" "bindery %s" "System Administration"\n' "$(echo "$1" | tr a-z A-Z)" "$(date -u -d "@$commit_time" +%Y-%m-%d)" "$version"
    printf '.SH NAME\n%s \\- %s\n.SH DESCRIPTION\n.nf\n' "$1" "$2"
    printf '%s\n' "$3" | sed 's/\\/\\e/g; s/^\./\\\&./'
    printf '.fi\n.SH SEE ALSO\n/usr/share/doc/bindery/README.md.gz, /usr/share/doc/bindery/operations.md.gz\n'
  } | gzip -9n >"$build/man/$1.8.gz"
}
manpage bindery "LDAP front for library identity sources" "$("$build/bindery" -h 2>&1 || true)"
manpage binderyctl "counter-staff and admin tool of bindery" "$("$build/binderyctl" help 2>&1 || true)"

sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@BUILD@|$build|g" -e "s|@ROOT@|$root|g" \
  deploy/debian/nfpm.yaml >"$build/nfpm.yaml"
mkdir -p dist
echo "== nfpm (Go tool of tools/go.mod; the first run builds it)"
(cd tools && go tool nfpm package --config "$build/nfpm.yaml" --packager deb --target "$root/dist/") |
  sed 's|^|   |'
deb="dist/bindery_${version}_${arch}.deb"
[ -f "$deb" ] || { echo "package.sh: nfpm did not write $deb" >&2; ls dist >&2; exit 1; }
echo "$deb"
