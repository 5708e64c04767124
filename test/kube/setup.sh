#!/usr/bin/env bash
# Provision the binaries that test/kube/cluster.ts needs to run a real
# Kubernetes API server: kube-apiserver (built from Go modules, cached) and
# etcd (Debian's etcd-server package, or built from Go modules when Debian's is
# too old). Idempotent: a second run only prints the paths.
#
# Env:
#   MINI_PILOT_CACHE   cache dir (default: $HOME/.cache/mini-pilot)
#   KUBE_APISERVER_BIN use this kube-apiserver instead of building one
#   ETCD_BIN           use this etcd instead of installing/building one
#   GO                 go binary (default: go)
#
# Output: the last two lines are `KUBE_APISERVER_BIN=...` and `ETCD_BIN=...`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MINI_PILOT_CACHE:-${HOME:-/root}/.cache/mini-pilot}"
GO="${GO:-go}"
# Oldest etcd server used with the chosen kube-apiserver: Kubernetes documents
# 3.4.22+ / 3.5.6+ as the minimum (Debian bookworm's etcd-server is 3.4.23 and
# passes our smoke test with k8s 1.34). Anything older gets etcd built from Go
# modules (test/kube/etcd). ETCD_MIN_VERSION=99 forces that build.
ETCD_MIN_VERSION="${ETCD_MIN_VERSION:-3.4.22}"

log() { printf '[kube-setup] %s\n' "$*" >&2; }

# mod_version GO_MOD MODULE: the version GO_MOD requires MODULE at.
mod_version() {
  awk -v m="$2" '
    $1 == m && $2 ~ /^v/ { print $2; exit }
    $1 == "require" && $2 == m { print $3; exit }' "$1"
}

# The versions are whatever the wrapper modules require.
k8s_version="$(mod_version "$here/apiserver/go.mod" k8s.io/kubernetes)"
etcd_mod_version="$(mod_version "$here/etcd/go.mod" go.etcd.io/etcd/server/v3)"
[[ -n "$k8s_version" && -n "$etcd_mod_version" ]] || { log "cannot read module versions from $here/{apiserver,etcd}/go.mod"; exit 1; }

mkdir -p "$cache"

# go_build MODULE_DIR OUTPUT [EXTRA_LDFLAGS]: lean, reproducible build; atomic
# rename so an interrupted build never leaves a half-written binary at the
# cached path.
go_build() {
  local dir="$1" out="$2" extra="${3:-}" tmp
  command -v "$GO" >/dev/null 2>&1 || { log "go not found (set GO=/path/to/go)"; exit 1; }
  tmp="$out.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  log "building $out from $dir (this takes several minutes on 2 cores)"
  local start=$SECONDS
  (
    cd "$dir"
    CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" \
      "$GO" build -trimpath -buildvcs=false -ldflags="-s -w $extra" -o "$tmp" .
  )
  mv -f "$tmp" "$out"
  trap - EXIT
  log "built $out in $((SECONDS - start))s"
}

# version_ge A B: true when dotted version A >= B.
version_ge() {
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}

etcd_version() {
  "$1" --version 2>/dev/null | awk '/^etcd Version:/ { print $3; exit }'
}

# ---- kube-apiserver ---------------------------------------------------------
if [[ -n "${KUBE_APISERVER_BIN:-}" ]]; then
  [[ -x "$KUBE_APISERVER_BIN" ]] || { log "KUBE_APISERVER_BIN=$KUBE_APISERVER_BIN is not executable"; exit 1; }
  apiserver="$KUBE_APISERVER_BIN"
else
  apiserver="$cache/kube-apiserver-$k8s_version"
  if [[ -x "$apiserver" ]]; then
    log "kube-apiserver $k8s_version cached at $apiserver"
  else
    # Stamp the version the way kubernetes' hack/lib/version.sh does, so
    # /version reports it (instead of v0.0.0-master+$Format:%H$).
    minor="${k8s_version#v1.}"; minor="${minor%%.*}"
    vflags=""
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      vflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    go_build "$here/apiserver" "$apiserver" "$vflags"
  fi
fi

# ---- etcd -------------------------------------------------------------------
etcd_ok() {
  local v
  v="$(etcd_version "$1")"
  [[ -n "$v" ]] && version_ge "$v" "$ETCD_MIN_VERSION"
}

etcd=""
if [[ -n "${ETCD_BIN:-}" ]]; then
  [[ -x "$ETCD_BIN" ]] || { log "ETCD_BIN=$ETCD_BIN is not executable"; exit 1; }
  etcd="$ETCD_BIN"
else
  # 1. a previously built etcd in the cache
  cached_etcd="$cache/etcd-$etcd_mod_version"
  if [[ -x "$cached_etcd" ]]; then
    etcd="$cached_etcd"
    log "etcd $etcd_mod_version cached at $etcd"
  fi
  # 2. etcd on PATH (install Debian's etcd-server if there is none)
  if [[ -z "$etcd" ]]; then
    if ! command -v etcd >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
      log "installing Debian etcd-server"
      sudo=""
      [[ "$(id -u)" == 0 ]] || sudo="sudo -n"
      export DEBIAN_FRONTEND=noninteractive
      # Debian's postinst would start an etcd service; policy-rc.d forbids
      # that on machines that have no init, and nothing needs it anyway.
      if ! $sudo apt-get install -y --no-install-recommends etcd-server >&2; then
        $sudo apt-get update >&2
        $sudo apt-get install -y --no-install-recommends etcd-server >&2 || log "apt-get install etcd-server failed"
      fi
    fi
    if command -v etcd >/dev/null 2>&1; then
      path_etcd="$(command -v etcd)"
      if etcd_ok "$path_etcd"; then
        etcd="$path_etcd"
      else
        log "$path_etcd is etcd $(etcd_version "$path_etcd"), older than $ETCD_MIN_VERSION"
      fi
    fi
  fi
  # 3. build etcd from Go modules
  if [[ -z "$etcd" ]]; then
    go_build "$here/etcd" "$cached_etcd"
    etcd="$cached_etcd"
  fi
fi

log "kube-apiserver: $apiserver"
log "etcd:           $etcd ($(etcd_version "$etcd"))"
echo "KUBE_APISERVER_BIN=$apiserver"
echo "ETCD_BIN=$etcd"
