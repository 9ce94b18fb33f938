#!/usr/bin/env bash
# Builds Grafana Loki's single binary (cmd/loki) from the Go module proxy into
# a cache directory keyed by version, once; prints the binary's path.
#
#   bash internal/testserver/lokitest/build-loki.sh            # v3.7.8
#   LOKI_VERSION=v3.7.8 bash internal/testserver/lokitest/build-loki.sh
#
# The cache is ${XDG_CACHE_HOME:-$HOME/.cache}/safedeploy/loki-VERSION/loki;
# internal/testserver/lokitest looks there (or at $SAFEDEPLOY_LOKI). Loki is AGPL-3.0:
# the tests run this binary as a separate process and import none of its
# packages. The build takes minutes (about 7 on 2 idle cores); it runs under
# nice so that it yields to other work.
set -euo pipefail

version=${LOKI_VERSION:-v3.7.8}
module=github.com/grafana/loki/v3
cache=${XDG_CACHE_HOME:-$HOME/.cache}/safedeploy/loki-$version
bin=$cache/loki

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
command -v go >/dev/null || { echo "build-loki: go is not installed" >&2; exit 1; }
mkdir -p "$cache"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# Loki's go.mod carries replace lines that a module requiring it must repeat
# (they apply only in the main module); all but the one pointing into Loki's
# own tree (./pkg/push), which the required version of that module serves.
gomod=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$gomod" ] || { echo "build-loki: no go.mod for $module@$version" >&2; exit 1; }

{
	echo "module safedeploy.invalid/lokibuild"
	echo
	echo "go 1.26.5"
	echo
	echo "require $module $version"
	echo
	awk '
		/^replace[[:space:]]*\(/ { inblock = 1; next }
		inblock && /^\)/ { inblock = 0; next }
		inblock { line = $0 }
		!inblock && /^replace[[:space:]]/ { line = $0; sub(/^replace[[:space:]]+/, "", line) }
		line != "" {
			sub(/\/\/.*$/, "", line)
			if (line ~ /=>[[:space:]]*\.\.?\//) { line = ""; next }
			if (line ~ /=>/) print "replace " line
			line = ""
		}
	' "$gomod"
} >go.mod

nice -n 19 go get "$module/cmd/loki@$version"
CGO_ENABLED=0 nice -n 19 go build -trimpath -o "$bin.tmp" "$module/cmd/loki"
mv "$bin.tmp" "$bin"
echo "$bin"
