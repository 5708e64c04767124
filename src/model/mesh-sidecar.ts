/**
 * The Sidecar resource as istiod applies it (pilot/pkg/model/sidecar.go,
 * push_context.go getSidecarScope): which Sidecar a proxy gets, and what that
 * Sidecar lets it see.
 *
 * Which Sidecar: in the proxy's namespace, the oldest one whose
 * workloadSelector matches the proxy's labels; else the oldest one there
 * without a selector; else the oldest selector-less one in the root
 * namespace; else none (everything exported to the namespace is visible, as
 * with an egress `*\/*`). Gateways never get a Sidecar.
 *
 * What it lets the proxy see, per egress listener: the services whose
 * namespace and host match a `namespace/dnsName` entry (`.` is the proxy's
 * namespace, `*` any namespace, a `~` prefix excludes), one namespace per
 * host; the VirtualServices (bound to "mesh", exported to the namespace) with
 * a host overlapping an entry of their own namespace or of `*`; and the
 * services those VirtualServices route to. A listener with a port keeps only
 * that port of each service. The listeners' services are merged by host.
 * DestinationRules follow the services (one is looked up per visible service).
 */
import type { Sidecar, SidecarEgressListener, VirtualService } from "./types";
import type { Mesh, MeshPort, MeshService, MeshSidecars, MeshVirtualService } from "./mesh-types";
import { cmp, hostMatches, labelsMatch, olderFirst, resolveHost, visibleTo } from "./mesh-hosts";
import { bindsTo } from "./mesh-rules";

/** Sidecars in istiod's lookup order (see MeshSidecars). */
export function indexSidecars(sidecars: Sidecar[], rootNamespace: string): MeshSidecars {
  const sorted = [...sidecars].sort((a, b) => olderFirst(a.metadata, b.metadata));
  const ordered = [...sorted.filter((s) => s.spec.workloadSelector), ...sorted.filter((s) => !s.spec.workloadSelector)];
  const byNamespace = new Map<string, Sidecar[]>();
  for (const s of ordered) byNamespace.set(s.metadata.namespace, [...(byNamespace.get(s.metadata.namespace) ?? []), s]);
  const root = ordered.find((s) => s.metadata.namespace === rootNamespace && !s.spec.workloadSelector);
  return root ? { byNamespace, root } : { byNamespace };
}

/**
 * The Sidecar that applies to a sidecar proxy in `namespace` with `labels`
 * (istiod's doGetSidecarScope for SidecarProxy). A selector without labels
 * selects every workload of the namespace, as in istiod.
 */
export function sidecarFor(mesh: Mesh, namespace: string, labels: Record<string, string>): Sidecar | undefined {
  for (const s of mesh.sidecars.byNamespace.get(namespace) ?? []) {
    const sel = s.spec.workloadSelector;
    if (!sel || labelsMatch(sel.labels ?? {}, labels)) return s;
  }
  return mesh.sidecars.root;
}

/** What one Sidecar lets proxies of one namespace see. */
export interface SidecarImports {
  sidecar: Sidecar;
  /** Sorted by host; one per host. May be copies of the mesh's services with fewer ports. */
  services: MeshService[];
  /**
   * The services the egress hosts import themselves (not those only reached
   * through a VirtualService): istiod builds outbound listeners and virtual
   * hosts from these, clusters from `services`. Sorted by host.
   */
  listenerServices: MeshService[];
  /**
   * Egress listeners with a port that get a listener of their own (a `bind`
   * address or `captureMode: NONE`), in the Sidecar's order, each with the
   * services it imports. Their services are in `services` (clusters) but
   * not in `listenerServices`: istiod builds a service's outbound listeners
   * from the egress listeners that import it.
   */
  boundEgress: BoundEgressListener[];
  /** The selected VirtualServices, oldest first (bind with bindVirtualServices). */
  virtualServices: MeshVirtualService[];
  /** The Sidecar's outboundTrafficPolicy mode, else the mesh's. */
  outboundTrafficPolicy: "ALLOW_ANY" | "REGISTRY_ONLY";
}

/** An egress listener with its own listener (istiod's buildSidecarOutboundListeners, port-specific branch). */
export interface BoundEgressListener {
  port: number;
  /** The egress port's protocol as written (upper case); "" when unset. */
  protocol: string;
  /** The address the listener is on: `bind`, else 127.0.0.1 for captureMode NONE (istiod's actualLocalHosts). */
  address: string;
  /** captureMode NONE: Envoy binds the address itself (the app connects to it directly, no iptables). */
  bindToPort: boolean;
  /** Services with this port the listener's hosts import, sorted by host, narrowed to the port. */
  services: MeshService[];
  /** The first egress listener with this port (istiod's GetEgressListenerForRDS): it decides route config `<port>`. */
  firstForPort: boolean;
}

/**
 * Whether an egress listener gets a listener of its own: a port (not HTTP_PROXY), and an IP `bind` or
 * captureMode NONE. Unix-socket binds (port 0) are validated but not generated (see docs/SIDECAR.md).
 */
export function boundEgressAddress(e: SidecarEgressListener): { address: string; bindToPort: boolean } | undefined {
  const n = e.port?.number ?? 0;
  if (n === 0 || e.port?.protocol?.toUpperCase() === "HTTP_PROXY") return undefined;
  if (e.bind?.startsWith("unix://")) return undefined;
  const bindToPort = e.captureMode === "NONE";
  if (e.bind) return { address: e.bind, bindToPort };
  return bindToPort ? { address: "127.0.0.1", bindToPort } : undefined;
}

/** Every proxy of a namespace that gets the same Sidecar sees the same things: computed once per mesh. */
const importCache = new WeakMap<Mesh, Map<Sidecar, Map<string, SidecarImports>>>();

export function sidecarImports(mesh: Mesh, sidecar: Sidecar, namespace: string): SidecarImports {
  let bySidecar = importCache.get(mesh);
  if (!bySidecar) importCache.set(mesh, (bySidecar = new Map()));
  let byNamespace = bySidecar.get(sidecar);
  if (!byNamespace) bySidecar.set(sidecar, (byNamespace = new Map()));
  let out = byNamespace.get(namespace);
  if (!out) byNamespace.set(namespace, (out = computeImports(mesh, sidecar, namespace)));
  return out;
}

/** The Sidecar's own mode (the API's default, when the policy is present without one, is REGISTRY_ONLY), else the mesh's. */
export function sidecarOutboundPolicy(mesh: Mesh, sidecar: Sidecar | undefined): "ALLOW_ANY" | "REGISTRY_ONLY" {
  const p = sidecar?.spec.outboundTrafficPolicy;
  return p ? (p.mode ?? "REGISTRY_ONLY") : mesh.options.outboundTrafficPolicy;
}

// ------------------------------------------------------------ egress hosts

/** The `namespace/dnsName` entries of one egress listener for one namespace (istiod's hostClassification). */
export interface HostImports {
  exact: Set<string>;
  all: string[];
  excluded: string[];
}

/** Egress hosts by namespace ("." replaced by `namespace`; "~ns/host" entries are exclusions; "~/host" excludes in every namespace). */
export function parseEgressHosts(hosts: readonly string[], namespace: string): Map<string, HostImports> {
  const out = new Map<string, HostImports>();
  for (const h of hosts) {
    const parts = h.split("/");
    if (parts.length !== 2) continue; // refused by validation
    let ns = parts[0]!;
    const name = parts[1]!;
    const excluded = ns.startsWith("~");
    if (excluded) ns = ns.slice(1) || "*";
    if (ns === ".") ns = namespace;
    let hc = out.get(ns);
    if (!hc) out.set(ns, (hc = { exact: new Set(), all: [], excluded: [] }));
    if (excluded) {
      hc.excluded.push(name);
      continue;
    }
    if (!name.startsWith("*")) hc.exact.add(name);
    hc.all.push(name);
  }
  return out;
}

const isWildcard = (h: string) => h.startsWith("*");

/** Is the service host covered by an entry (host.Name SubsetOf)? */
export function importsService(hc: HostImports, host: string): boolean {
  if (hc.exact.has(host)) return true;
  for (const imported of hc.all) {
    if (!isWildcard(host) && !isWildcard(imported)) continue;
    if (hostMatches(imported, host)) return true;
  }
  return false;
}

/** Does a VirtualService host overlap an entry (host.Name Matches, both ways)? */
export function importsVirtualServiceHost(hc: HostImports, host: string): boolean {
  if (hc.exact.has(host)) return true;
  for (const imported of hc.all) {
    if (!isWildcard(host) && !isWildcard(imported)) continue;
    if (hostMatches(imported, host) || hostMatches(host, imported)) return true;
  }
  return false;
}

function isExcluded(hc: HostImports | undefined, host: string): boolean {
  return hc !== undefined && hc.excluded.some((e) => hostMatches(e, host));
}

// ------------------------------------------------------------ computing the imports

interface Listener {
  /** Only services with this port, and only this port of them (istiod's needsPortMatch). */
  port?: number;
  hosts: Map<string, HostImports>;
  spec: SidecarEgressListener;
}

function listenersOf(sidecar: Sidecar, namespace: string): Listener[] {
  const egress: SidecarEgressListener[] = sidecar.spec.egress?.length ? sidecar.spec.egress : [{ hosts: ["*/*"] }];
  return egress.map((e) => {
    const l: Listener = { hosts: parseEgressHosts(e.hosts, namespace), spec: e };
    const n = e.port?.number ?? 0;
    if (n !== 0 && e.port?.protocol?.toUpperCase() !== "HTTP_PROXY") l.port = n;
    return l;
  });
}

function withPorts(svc: MeshService, ports: MeshPort[]): MeshService | undefined {
  if (ports.length === 0) return undefined;
  return ports.length === svc.ports.length ? svc : { ...svc, ports };
}

function matchingListenerPort(svc: MeshService, l: Listener): MeshService | undefined {
  return l.port === undefined
    ? svc
    : withPorts(
        svc,
        svc.ports.filter((p) => p.port === l.port),
      );
}

function computeImports(mesh: Mesh, sidecar: Sidecar, namespace: string): SidecarImports {
  const candidates = mesh.virtualServices.filter((v) => bindsTo(v, "mesh") && visibleTo(v.exportTo, namespace));
  const visible = mesh.services.filter((s) => visibleTo(s.exportTo, namespace));
  const merged = new Map<string, MeshService>();
  const explicit = new Map<string, MeshService>();
  const vsSelected = new Set<MeshVirtualService>();
  const boundEgress: BoundEgressListener[] = [];
  const portsSeen = new Set<number>();
  for (const l of listenersOf(sidecar, namespace)) {
    const bound = boundEgressAddress(l.spec);
    const selected = selectServices(visible, l, namespace);
    for (const s of selected) {
      appendService(merged, s);
      if (!bound) appendService(explicit, s);
    }
    if (bound && l.port !== undefined) {
      boundEgress.push({
        port: l.port,
        protocol: (l.spec.port?.protocol ?? "").toUpperCase(),
        ...bound,
        services: [...selected].sort((a, b) => cmp(a.host, b.host)),
        firstForPort: !portsSeen.has(l.port),
      });
    }
    if (l.port !== undefined) portsSeen.add(l.port);
    const vss = selectVirtualServices(candidates, l.hosts);
    for (const vs of vss) {
      vsSelected.add(vs);
      for (const [host, ports] of destinations(vs.vs, namespace, mesh.options.domainSuffix)) {
        const svc = destinationService(mesh, host, namespace);
        const picked = svc && (l.port !== undefined ? matchingListenerPort(svc, l) : matchingDestinationPorts(svc, ports));
        if (picked) appendService(merged, picked);
      }
    }
  }
  const byHost = (a: MeshService, b: MeshService) => cmp(a.host, b.host);
  return {
    sidecar,
    services: [...merged.values()].sort(byHost),
    listenerServices: [...explicit.values()].sort(byHost),
    boundEgress,
    virtualServices: candidates.filter((v) => vsSelected.has(v)),
    outboundTrafficPolicy: sidecarOutboundPolicy(mesh, sidecar),
  };
}

/** istiod's selectServices: match by the service's own namespace first, then `*`; then one namespace per host. */
function selectServices(visible: MeshService[], l: Listener, namespace: string): MeshService[] {
  const wild = l.hosts.get("*");
  const imported: MeshService[] = [];
  for (const s of visible) {
    const own = l.hosts.get(s.namespace);
    if (isExcluded(own, s.host) || isExcluded(wild, s.host)) continue;
    const fromOwn = own && importsService(own, s.host) ? matchingListenerPort(s, l) : undefined;
    const picked = fromOwn ?? (wild && importsService(wild, s.host) ? matchingListenerPort(s, l) : undefined);
    if (picked) imported.push(picked);
  }
  // One namespace per host: the proxy's own; else a Kubernetes service over a ServiceEntry; else the first.
  const chosen = new Map<string, MeshService>();
  for (const s of imported) {
    const ex = chosen.get(s.host);
    if (!ex || s.namespace === namespace) chosen.set(s.host, s);
    else if (ex.source !== "kubernetes" && s.source === "kubernetes" && ex.namespace !== namespace) chosen.set(s.host, s);
  }
  return imported.filter((s) => chosen.get(s.host) === s);
}

/** istiod's SelectVirtualServices: a VirtualService is in when one of its hosts overlaps an entry of its namespace or of `*`, not excluded. */
function selectVirtualServices(candidates: MeshVirtualService[], hosts: Map<string, HostImports>): MeshVirtualService[] {
  const wild = hosts.get("*");
  const out: MeshVirtualService[] = [];
  for (const vs of candidates) {
    const own = hosts.get(vs.namespace);
    const selects = (hc: HostImports | undefined) =>
      hc !== undefined && vs.hosts.some((h) => importsVirtualServiceHost(hc, h) && !isExcluded(own, h) && !isExcluded(wild, h));
    if (selects(own) || selects(wild)) out.push(vs);
  }
  return out;
}

/**
 * The hosts a VirtualService routes to (routes, mirrors), with the ports named
 * (0: "every port"); HTTP routes matching another sourceNamespace are skipped
 * (istiod's virtualServiceDestinationsFilteredBySourceNamespace).
 */
export function destinations(vs: VirtualService, namespace: string, domainSuffix: string): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  const add = (host: string, port: number | undefined) => {
    const h = resolveHost(host, vs.metadata.namespace, domainSuffix);
    const set = out.get(h) ?? new Set<number>();
    set.add(port ?? 0);
    out.set(h, set);
  };
  for (const r of vs.spec.http ?? []) {
    const sources = (r.match ?? []).map((m) => m.sourceNamespace).filter((s): s is string => !!s);
    if (sources.length > 0 && !sources.includes(namespace)) continue;
    for (const d of r.route ?? []) add(d.destination.host, d.destination.port?.number);
    if (r.mirror) add(r.mirror.host, r.mirror.port?.number);
  }
  for (const r of [...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])]) for (const d of r.route ?? []) add(d.destination.host, d.destination.port?.number);
  return out;
}

/** The service a VirtualService destination names: the proxy's namespace's, else a visible Kubernetes one, else the first visible. */
function destinationService(mesh: Mesh, host: string, namespace: string): MeshService | undefined {
  const list = mesh.servicesByHost.get(host);
  if (!list) return undefined;
  const own = list.find((s) => s.namespace === namespace);
  if (own) return own;
  const visible = list.filter((s) => visibleTo(s.exportTo, namespace));
  return visible.find((s) => s.source === "kubernetes") ?? visible[0];
}

/** istiod's serviceMatchingVirtualServicePorts: only the ports routed to (all when one destination names none). */
function matchingDestinationPorts(svc: MeshService, ports: Set<number>): MeshService | undefined {
  if (ports.size === 0 || ports.has(0)) return svc;
  return withPorts(
    svc,
    svc.ports.filter((p) => ports.has(p.port)),
  );
}

/** istiod's appendSidecarServices: one service per host; Kubernetes over ServiceEntry; partial services of one namespace merge their ports. */
function appendService(added: Map<string, MeshService>, s: MeshService): void {
  const existing = added.get(s.host);
  if (!existing) {
    added.set(s.host, s);
    return;
  }
  if (existing === s) return;
  if (existing.source === "kubernetes" && s.source !== "kubernetes") return;
  if (existing.source !== "kubernetes" && s.source === "kubernetes") {
    added.set(s.host, s);
    return;
  }
  if (existing.namespace !== s.namespace || existing.resolution !== s.resolution || existing.source !== s.source) return;
  const extra = s.ports.filter((p) => !existing.ports.some((e) => e.port === p.port));
  if (extra.length > 0) added.set(s.host, { ...existing, ports: [...existing.ports, ...extra] });
}
