#!/usr/bin/env bash
# Builds the go-control-plane benchmark peer into a content-addressed cache path
# and prints that path as the last line of stdout. Rebuilds only when go.mod,
# go.sum or main.go change. Needs Go (see go.mod) and the Go module proxy (or a
# warm module cache). Build logs go to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# -mod=readonly: never rewrite go.mod/go.sum.
exec "$here/../../../scripts/go-build-cached.sh" "$here" go-control-plane-peer -mod=readonly
