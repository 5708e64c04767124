#!/usr/bin/env bash
# Builds istio-check (Istio's own validation, from the Istio module mini-pilot
# targets) into a content-addressed cache path and prints that path as the last
# line of stdout. Rebuilds only when go.mod, go.sum or main.go change. Needs Go
# and the Go module proxy (or a warm module cache). Build logs go to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/../../../scripts/go-build-cached.sh" "$here" istio-check -mod=mod -tags vtprotobuf,disable_pgv
