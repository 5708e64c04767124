module istiodbuild

go 1.26.0

// The Istio version the fidelity harness runs (test/istiod/setup.sh builds
// pilot-discovery from this module; test/istiod/istiod.ts finds the cached
// binary by it). This line is the only place the version is pinned.
require istio.io/istio v0.0.0-20260827124520-eed52ebb66ad // indirect
