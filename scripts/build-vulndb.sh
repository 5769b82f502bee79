#!/usr/bin/env bash
# Builds the Go vulnerability database that govulncheck reads from the
# golang.org/x/vulndb module (OSV reports in data/osv, indexed by its own
# cmd/indexdb) into tools/vulndb/VERSION, and prints that directory. The version
# is pinned here; raise it to pick up newer reports.
set -euo pipefail
version=v0.0.0-20261105234957-e22db6528018
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/tools/vulndb/$version"
if [[ -f "$out/index/db.json" ]]; then
	echo "$out"
	exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS=-mod=mod
go mod init vidjob-vulndb >/dev/null 2>&1
go get "golang.org/x/vulndb@$version" >&2
src="$(go list -m -f '{{.Dir}}' golang.org/x/vulndb)"
rm -rf "$out.tmp"
mkdir -p "$(dirname "$out")"
go run golang.org/x/vulndb/cmd/indexdb -vulns "$src/data/osv" -out "$out.tmp" >&2
mv "$out.tmp" "$out"
echo "$out"
