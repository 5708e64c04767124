// Command go-control-plane-peer is a minimal xDS control plane built on
// github.com/envoyproxy/go-control-plane. It is the reference peer the
// mini-pilot benchmark drives: the benchmark pushes pre-serialized Envoy
// resources over a small HTTP/JSON control API, and the peer serves them to
// xDS clients over ADS (SotW and Delta) with go-control-plane's snapshot cache.
//
// On start it prints one JSON line with the bound addresses to stdout:
//
//	{"xds":"127.0.0.1:PORT","http":"127.0.0.1:PORT"}
//
// Everything else (logs) goes to stderr. See README.md for the API.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clustersvc "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointsvc "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenersvc "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routesvc "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"

	// Register the message types a real mesh config nests inside typed_config
	// Anys, so anything that resolves nested Anys (JSON dumps, debugging) works.
	// The top-level xDS types are registered by the cache/server imports above.
	_ "github.com/cncf/xds/go/udpa/type/v1"
	_ "github.com/cncf/xds/go/xds/type/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/client_side_weighted_round_robin/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/pick_first/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/wrr_locality/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/request_id/uuid/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	_ "github.com/envoyproxy/go-control-plane/pkg/wellknown"
)

// stats are the counters exposed by GET /stats, fed by the server callbacks.
type stats struct {
	streamsOpen, streamsTotal, deltaStreamsOpen   atomic.Int64
	requests, acks, nacks, responses, resourcesTx atomic.Int64
	snapshotsSet                                  atomic.Int64
}

// peer holds the snapshot cache plus the bookkeeping for "*" snapshots: the
// cache keys (node groups, or node ids with --node-hash id) seen so far.
type peer struct {
	cache cachev3.SnapshotCache
	hash  cachev3.NodeHash
	st    stats
	// perTypeVersions: each type's version is a hash of its content, so a change
	// re-sends only the types it touched (SotW); otherwise all types share the
	// posted version, as cachev3.NewSnapshot does.
	perTypeVersions bool

	seen   sync.Map   // cache key -> struct{}: lock-free "already known?" fast path
	mu     sync.Mutex // guards keys, def and decoded, and orders default-vs-new-key SetSnapshot calls
	keys   []string
	def    *cachev3.Snapshot // the last "*" snapshot, given to keys that appear later
	nodes  atomic.Int64      // distinct node ids, for /stats
	groups atomic.Int64      // len(keys), for /stats without taking mu

	// decoded: base64 Any -> resource of the last snapshot, so a resource that
	// did not change is not unmarshalled again (a real control plane keeps its
	// unchanged objects too).
	decoded map[string]types.Resource
	nodeIDs sync.Map
}

// groupHash is the NodeHash for a fleet of equal proxies: every proxy of one
// namespace gets the same snapshot, so the cache holds one snapshot (and one
// status with all the group's watches) per namespace instead of one per proxy.
// The namespace is the NAMESPACE metadata field Istio's pilot-agent sends, or
// else the namespace part of a sidecar node id (sidecar~IP~POD.NS~NS.svc...).
// These are the same groups mini-pilot's bench server uses.
type groupHash struct{}

func (groupHash) ID(n *core.Node) string {
	if n == nil {
		return ""
	}
	if ns := n.GetMetadata().GetFields()["NAMESPACE"].GetStringValue(); ns != "" {
		return ns
	}
	parts := strings.Split(n.GetId(), "~")
	if len(parts) >= 3 {
		if i := strings.Index(parts[2], "."); i >= 0 && i+1 < len(parts[2]) {
			return parts[2][i+1:]
		}
	}
	return n.GetId()
}

// noteNode is called on every request; the first time a cache key is seen it
// is recorded and, if a "*" snapshot exists, that snapshot is set for it. This
// runs synchronously before the server creates the watch, so the very first
// request of a new group is answered from the default snapshot.
func (p *peer) noteNode(n *core.Node) {
	if n.GetId() == "" {
		return
	}
	if _, ok := p.nodeIDs.LoadOrStore(n.GetId(), struct{}{}); !ok {
		p.nodes.Add(1)
	}
	key := p.hash.ID(n)
	if _, ok := p.seen.Load(key); ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, loaded := p.seen.LoadOrStore(key, struct{}{}); loaded {
		return // raced with another stream of the same group, or a per-key POST
	}
	p.keys = append(p.keys, key)
	p.groups.Add(1)
	if p.def != nil {
		if err := p.cache.SetSnapshot(context.Background(), key, p.def); err != nil {
			log.Printf("set default snapshot for %s: %v", key, err)
		}
		p.st.snapshotsSet.Add(1)
	}
}

// countReq classifies a request as initial request, ACK or NACK.
func (p *peer) countReq(nonce string, hasErr bool) {
	p.st.requests.Add(1)
	switch {
	case nonce == "":
	case hasErr:
		p.st.nacks.Add(1)
	default:
		p.st.acks.Add(1)
	}
}

// streamDelta tracks open streams (all, and delta-only) and the running total.
func (p *peer) streamDelta(all, delta int64) {
	p.st.streamsOpen.Add(all)
	p.st.deltaStreamsOpen.Add(delta)
	if all > 0 {
		p.st.streamsTotal.Add(1)
	}
}

// callbacks feeds the stats counters and node bookkeeping from the xDS server.
func (p *peer) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc:        func(context.Context, int64, string) error { p.streamDelta(1, 0); return nil },
		StreamClosedFunc:      func(int64, *core.Node) { p.streamDelta(-1, 0) },
		DeltaStreamOpenFunc:   func(context.Context, int64, string) error { p.streamDelta(1, 1); return nil },
		DeltaStreamClosedFunc: func(int64, *core.Node) { p.streamDelta(-1, -1) },
		StreamRequestFunc: func(_ int64, r *discovery.DiscoveryRequest) error {
			p.noteNode(r.GetNode()) // SotW server has already filled Node from the first request
			p.countReq(r.GetResponseNonce(), r.GetErrorDetail() != nil)
			return nil
		},
		StreamDeltaRequestFunc: func(_ int64, r *discovery.DeltaDiscoveryRequest) error {
			p.noteNode(r.GetNode()) // only the first delta request is guaranteed to carry Node
			p.countReq(r.GetResponseNonce(), r.GetErrorDetail() != nil)
			return nil
		},
		StreamResponseFunc: func(_ context.Context, _ int64, _ *discovery.DiscoveryRequest, r *discovery.DiscoveryResponse) {
			p.st.responses.Add(1)
			p.st.resourcesTx.Add(int64(len(r.GetResources())))
		},
		StreamDeltaResponseFunc: func(_ int64, _ *discovery.DeltaDiscoveryRequest, r *discovery.DeltaDiscoveryResponse) {
			p.st.responses.Add(1)
			p.st.resourcesTx.Add(int64(len(r.GetResources())))
		},
	}
}

// snapshotReq is the body of POST /snapshot.
type snapshotReq struct {
	Node      string              `json:"node"`
	Version   string              `json:"version"`
	Resources map[string][]string `json:"resources"` // type URL -> base64(serialized google.protobuf.Any)
}

// buildSnapshot decodes the Anys (reusing the resources of the previous
// snapshot that did not change) and builds an (unchecked) snapshot with one
// version per type. snapshot.Consistent() is deliberately not called.
// Called with p.mu held.
func (p *peer) buildSnapshot(req *snapshotReq) (*cachev3.Snapshot, error) {
	out := &cachev3.Snapshot{}
	decoded := make(map[string]types.Resource, len(p.decoded))
	for typeURL, items := range req.Resources {
		index := cachev3.GetResponseType(typeURL)
		if index == types.UnknownType {
			return nil, fmt.Errorf("unknown resource type: %s", typeURL)
		}
		list := make([]types.Resource, 0, len(items))
		h := sha256.New()
		for i, b64 := range items {
			h.Write([]byte(b64))
			h.Write([]byte{0})
			if m, ok := p.decoded[b64]; ok {
				decoded[b64] = m
				list = append(list, m)
				continue
			}
			m, err := decodeAny(typeURL, b64)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %v", typeURL, i, err)
			}
			decoded[b64] = m
			list = append(list, m)
		}
		version := req.Version
		if p.perTypeVersions {
			version = hex.EncodeToString(h.Sum(nil))[:16]
		}
		out.Resources[index] = cachev3.NewResources(version, list)
	}
	p.decoded = decoded
	return out, nil
}

func decodeAny(typeURL, b64 string) (types.Resource, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("bad base64: %v", err)
	}
	a := &anypb.Any{}
	if err := proto.Unmarshal(raw, a); err != nil {
		return nil, fmt.Errorf("bad Any: %v", err)
	}
	if a.GetTypeUrl() != typeURL {
		return nil, fmt.Errorf("Any has type %q", a.GetTypeUrl())
	}
	return anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
}

func (p *peer) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		httpErr(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	var req snapshotReq
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		httpErr(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return
	}
	if req.Node == "" || req.Version == "" {
		httpErr(w, http.StatusBadRequest, "node and version are required")
		return
	}
	// Hold mu across decoding and the SetSnapshot calls so a group that appears
	// meanwhile either is in the list or gets the new default: never an older one last.
	p.mu.Lock()
	snap, err := p.buildSnapshot(&req)
	if err != nil {
		p.mu.Unlock()
		httpErr(w, http.StatusBadRequest, err.Error())
		return
	}
	targets := []string{req.Node}
	if req.Node == "*" {
		p.def = snap
		targets = append([]string(nil), p.keys...)
	} else if _, loaded := p.seen.LoadOrStore(req.Node, struct{}{}); !loaded {
		p.groups.Add(1)
		p.keys = append(p.keys, req.Node) // explicit snapshot: don't overwrite with the default later
	}
	start := time.Now()
	for _, key := range targets {
		if err = p.cache.SetSnapshot(context.Background(), key, snap); err != nil {
			break
		}
	}
	took := time.Since(start)
	p.mu.Unlock()
	if err != nil {
		httpErr(w, http.StatusBadRequest, "SetSnapshot: "+err.Error())
		return
	}
	p.st.snapshotsSet.Add(int64(len(targets)))
	writeJSON(w, map[string]any{"ok": true, "nodes": len(targets), "setMicros": took.Microseconds()})
}

func (p *peer) handleStats(w http.ResponseWriter, _ *http.Request) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	writeJSON(w, map[string]any{
		"streamsOpen":      p.st.streamsOpen.Load(),
		"deltaStreamsOpen": p.st.deltaStreamsOpen.Load(),
		"streamsTotal":     p.st.streamsTotal.Load(),
		"nodes":            p.nodes.Load(),
		"groups":           p.groups.Load(),
		"requests":         p.st.requests.Load(),
		"acks":             p.st.acks.Load(),
		"nacks":            p.st.nacks.Load(),
		"responses":        p.st.responses.Load(),
		"resourcesSent":    p.st.resourcesTx.Load(),
		"snapshotsSet":     p.st.snapshotsSet.Load(),
		"rssBytes":         rssBytes(),
		"cpuUserMicros":    ru.Utime.Sec*1e6 + int64(ru.Utime.Usec),
		"cpuSysMicros":     ru.Stime.Sec*1e6 + int64(ru.Stime.Usec),
		"goroutines":       runtime.NumGoroutine(),
	})
}

// rssBytes reads VmRSS from /proc/self/status (Linux); 0 if unavailable.
func rssBytes() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONCode(w, http.StatusOK, v) }

func httpErr(w http.ResponseWriter, code int, msg string) {
	writeJSONCode(w, code, map[string]any{"ok": false, "error": msg})
}

func writeJSONCode(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// quietLogger forwards go-control-plane's warnings/errors to stderr and drops
// debug/info chatter (it logs per watch, which would skew the benchmark).
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any)     {}
func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Warnf(f string, a ...any)  { log.Printf("WARN "+f, a...) }
func (quietLogger) Errorf(f string, a ...any) { log.Printf("ERROR "+f, a...) }

func main() {
	xdsAddr := flag.String("xds-address", "127.0.0.1:0", "gRPC xDS (ADS + LDS/RDS/CDS/EDS) listen address; port 0 picks a free port")
	httpAddr := flag.String("http-address", "127.0.0.1:0", "HTTP control API listen address; port 0 picks a free port")
	nodeHash := flag.String("node-hash", "group", "cache key: group (one snapshot per namespace, for a fleet of equal proxies) or id (one per node id, IDHash)")
	versions := flag.String("versions", "per-type", "snapshot versions: per-type (a hash of each type's resources) or single (the posted version for every type, as cachev3.NewSnapshot)")
	flag.Parse()
	log.SetOutput(os.Stderr)
	log.SetPrefix("gcp-peer ")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var hash cachev3.NodeHash
	switch *nodeHash {
	case "group":
		hash = groupHash{}
	case "id":
		hash = cachev3.IDHash{}
	default:
		log.Fatalf("--node-hash wants group or id, got %q", *nodeHash)
	}
	if *versions != "per-type" && *versions != "single" {
		log.Fatalf("--versions wants per-type or single, got %q", *versions)
	}
	// ads=true: the cache holds EDS/RDS responses until the request names every
	// resource of the snapshot, so an ADS stream gets a consistent set.
	p := &peer{cache: cachev3.NewSnapshotCache(true, hash, quietLogger{}), hash: hash, perTypeVersions: *versions == "per-type"}
	xds := serverv3.NewServer(ctx, p.cache, p.callbacks())

	gs := grpc.NewServer(
		grpc.MaxConcurrentStreams(1<<20),
		grpc.MaxRecvMsgSize(64<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, xds) // SotW + Delta ADS
	listenersvc.RegisterListenerDiscoveryServiceServer(gs, xds)
	routesvc.RegisterRouteDiscoveryServiceServer(gs, xds)
	clustersvc.RegisterClusterDiscoveryServiceServer(gs, xds)
	endpointsvc.RegisterEndpointDiscoveryServiceServer(gs, xds)

	xl, err := net.Listen("tcp", *xdsAddr)
	if err != nil {
		log.Fatalf("listen xds: %v", err)
	}
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatalf("listen http: %v", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/snapshot", p.handleSnapshot)
	mux.HandleFunc("/stats", p.handleStats)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, map[string]any{"ok": true}) })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	go func() {
		if err := gs.Serve(xl); err != nil {
			log.Printf("grpc serve: %v", err)
		}
	}()
	go func() {
		if err := hs.Serve(hl); err != nil && err != http.ErrServerClosed {
			log.Printf("http serve: %v", err)
		}
	}()

	// The one stdout line the driver waits for; both sockets are already bound.
	line, _ := json.Marshal(struct {
		XDS  string `json:"xds"`
		HTTP string `json:"http"`
	}{xl.Addr().String(), hl.Addr().String()})
	fmt.Println(string(line))
	log.Printf("serving xds=%s http=%s", xl.Addr(), hl.Addr())

	<-ctx.Done()
	log.Printf("shutting down")
	_ = hs.Close()
	gs.Stop()
}
