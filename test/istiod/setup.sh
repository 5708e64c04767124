#!/usr/bin/env bash
# Builds istiod's pilot-discovery from Go modules for the fidelity harness
# (test/istiod/istiod.ts) and caches it by version: a second run only prints
# the path. The version is the istio.io/istio requirement in build/go.mod (the
# one place it is pinned). Takes 4-11 minutes on 2 cores with a cold build cache
# (measured: 635 s on a busy 2-core machine).
#
# Env:
#   MINI_PILOT_CACHE     cache dir (default: $HOME/.cache/mini-pilot)
#   PILOT_DISCOVERY_BIN  use this binary instead of building one
#   GO                   go binary (default: go)
#
# Output: the last line is `PILOT_DISCOVERY_BIN=...`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MINI_PILOT_CACHE:-${HOME:-/root}/.cache/mini-pilot}"
GO="${GO:-go}"

log() { printf '[istiod-setup] %s\n' "$*" >&2; }

if [[ -n "${PILOT_DISCOVERY_BIN:-}" ]]; then
  [[ -x "$PILOT_DISCOVERY_BIN" ]] || { log "PILOT_DISCOVERY_BIN=$PILOT_DISCOVERY_BIN is not executable"; exit 1; }
  echo "PILOT_DISCOVERY_BIN=$PILOT_DISCOVERY_BIN"
  exit 0
fi

version="$(awk '$1 == "require" && $2 == "istio.io/istio" { print $3; exit }' "$here/build/go.mod")"
[[ -n "$version" ]] || { log "cannot read the istio.io/istio version from $here/build/go.mod"; exit 1; }
# A pseudo-version (v0.0.0-<date>-<12-hex commit>) is named by its commit, a tag by itself.
tag="$version"
[[ "$version" =~ -([0-9a-f]{12})$ ]] && tag="${BASH_REMATCH[1]}"
out_dir="$cache/pilot-discovery-$tag"
out="$out_dir/pilot-discovery"

if [[ -x "$out" ]]; then
  log "pilot-discovery $version cached at $out"
else
  command -v "$GO" >/dev/null 2>&1 || { log "go not found (set GO=/path/to/go)"; exit 1; }
  mkdir -p "$out_dir"
  # Build in a scratch copy so -mod=mod never rewrites the checked-in go.mod/go.sum.
  work="$(mktemp -d)"
  tmp="$out.tmp.$$"
  trap 'rm -rf "$work" "$tmp"' EXIT
  cp "$here/build/go.mod" "$here/build/go.sum" "$work/"
  log "building pilot-discovery $version into $out (4-11 minutes on 2 cores)"
  start=$SECONDS
  (
    cd "$work"
    # vtprotobuf,disable_pgv: the tags Istio's own release build uses; the version
    # is stamped the way Istio's build does, so `pilot-discovery version` reports it.
    CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" \
      "$GO" build -tags vtprotobuf,disable_pgv -trimpath -buildvcs=false -o "$tmp" \
      -ldflags="-s -w -X istio.io/istio/pkg/version.buildVersion=$version -X istio.io/istio/pkg/version.buildGitRevision=$tag" \
      istio.io/istio/pilot/cmd/pilot-discovery
  ) </dev/null >&2
  cp "$here/build/go.mod" "$here/build/go.sum" "$out_dir/"
  mv -f "$tmp" "$out" # atomic: a concurrent reader never sees a half-written binary
  trap - EXIT
  rm -rf "$work"
  log "built $out in $((SECONDS - start))s"
fi
echo "PILOT_DISCOVERY_BIN=$out"
