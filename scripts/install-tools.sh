#!/usr/bin/env bash
# Builds the programs that vidjob's tests need but vidjob never links into
# tools/bin. The version comes from tools/go.mod so that it is pinned in one place
# (and checksummed in tools/go.sum); `go install pkg@version` keeps the tool's
# dependencies out of vidjob's own go.mod.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mkdir -p tools/bin
export GOBIN="$root/tools/bin"

# govulncheck is pinned here rather than in tools/go.mod: adding it there would
# move versitygw's own dependencies to other versions.
govulncheck_version=v1.9.0
gstamp="tools/bin/.govulncheck.version"
if [[ -x tools/bin/govulncheck && -f "$gstamp" && "$(cat "$gstamp")" == "$govulncheck_version" ]]; then
	echo "install-tools: govulncheck $govulncheck_version already in tools/bin"
else
	echo "install-tools: installing govulncheck $govulncheck_version into tools/bin"
	go install "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version"
	echo "$govulncheck_version" >"$gstamp"
fi

version="$(cd tools && go list -m -f '{{.Version}}' github.com/versity/versitygw)"
want="versitygw $version"
stamp="tools/bin/.versitygw.version"
if [[ -x tools/bin/versitygw && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "install-tools: $want already in tools/bin"
	exit 0
fi

echo "install-tools: building $want into tools/bin"
go install "github.com/versity/versitygw/cmd/versitygw@$version"
echo "$want" >"$stamp"
