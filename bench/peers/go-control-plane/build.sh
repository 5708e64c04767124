#!/usr/bin/env bash
# Builds the go-control-plane benchmark peer into a content-addressed cache path
# and prints that path as the last line of stdout. Rebuilds only when go.mod,
# go.sum or main.go change. Needs Go (see go.mod) and the Go module proxy (or a
# warm module cache). Build logs go to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_dir="${MINI_PILOT_CACHE:-${HOME:-/tmp}/.cache/mini-pilot}"

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: 'go' not found on PATH" >&2
  exit 1
fi

# Hash of the inputs that determine the binary (go.mod included: it pins the Go
# version and the direct deps).
hash="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)"
out="$cache_dir/go-control-plane-peer-$hash"

if [[ ! -x "$out" ]]; then
  mkdir -p "$cache_dir"
  tmp="$out.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  echo "build.sh: building $out" >&2
  start=$(date +%s)
  # -mod=readonly: never rewrite go.mod/go.sum; CGO off for a static binary.
  (cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags='-s -w' -o "$tmp" .) </dev/null >&2
  mv -f "$tmp" "$out" # atomic: concurrent builders never see a partial binary
  echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
fi

echo "$out"
