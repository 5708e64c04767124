#!/usr/bin/env bash
# Builds istio-check (Istio's own validation, from the Istio module mini-pilot
# targets) into a content-addressed cache path and prints that path as the last
# line of stdout. Rebuilds only when go.mod, go.sum or main.go change. Needs Go
# and the Go module proxy (or a warm module cache). Build logs go to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_dir="${MINI_PILOT_CACHE:-${HOME:-/tmp}/.cache/mini-pilot}"
command -v go >/dev/null 2>&1 || { echo "build.sh: 'go' not found on PATH" >&2; exit 1; }
hash="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)"
out="$cache_dir/istio-check-$hash"
if [[ ! -x "$out" ]]; then
  mkdir -p "$cache_dir"
  tmp="$out.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  echo "build.sh: building $out" >&2
  start=$(date +%s)
  (cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -tags vtprotobuf,disable_pgv -trimpath -ldflags='-s -w' -o "$tmp" .) </dev/null >&2
  mv -f "$tmp" "$out"
  echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
