#!/usr/bin/env bash
# go-build-cached.sh DIR NAME GOFLAGS [GO-BUILD-ARGS...]
#
# Builds the Go main package in DIR into a content-addressed cache path,
# $MINI_PILOT_CACHE/NAME-<hash> (default cache ~/.cache/mini-pilot), and prints
# that path as the last line of stdout. The hash covers DIR's go.mod, go.sum and
# main.go (go.mod pins the Go version and the direct deps), so it rebuilds only
# when they change. A static binary (CGO off, -trimpath, stripped); GOFLAGS and
# the extra `go build` arguments are the caller's. Build logs go to stderr.
# Shared by test/validation-parity/istio-check/build.sh and
# bench/peers/go-control-plane/build.sh.
set -euo pipefail
[[ $# -ge 3 ]] || { echo "usage: go-build-cached.sh DIR NAME GOFLAGS [GO-BUILD-ARGS...]" >&2; exit 2; }
dir="$1" name="$2" goflags="$3"
shift 3
cache_dir="${MINI_PILOT_CACHE:-${HOME:-/tmp}/.cache/mini-pilot}"
command -v go >/dev/null 2>&1 || { echo "build.sh: 'go' not found on PATH" >&2; exit 1; }
hash="$(cat "$dir/go.mod" "$dir/go.sum" "$dir/main.go" | sha256sum | cut -c1-16)"
out="$cache_dir/$name-$hash"
if [[ ! -x "$out" ]]; then
  mkdir -p "$cache_dir"
  tmp="$out.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  echo "build.sh: building $out" >&2
  start=$(date +%s)
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS="$goflags" go build "$@" -trimpath -ldflags='-s -w' -o "$tmp" .) </dev/null >&2
  mv -f "$tmp" "$out" # atomic: concurrent builders never see a partial binary
  echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$out"
