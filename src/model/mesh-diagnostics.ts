/**
 * Checks that need more than one object: VirtualService conflicts, routes to
 * unknown hosts or subsets, DestinationRule settings mini-pilot cannot honour.
 * Each finding is a Diagnostic; nothing here changes the mesh.
 *
 * A route to a subset that no DestinationRule defines keeps pointing at the
 * subset cluster name (outbound|port|subset|host), as Istio does; no such
 * cluster is sent, so Envoy answers those requests with 503 (no cluster).
 */
import { missingSystemBundleMessage, verifiesWithSystemRoots } from "./tls-roots";
import type { ClientTLSSettings, Destination, Diagnostic, DestinationRule, TrafficPolicy, VirtualService } from "./types";
import type { Mesh, MeshService, MeshVirtualService } from "./mesh-types";
import { hostMatches, hostSpecificity, resolveHost } from "./mesh-hosts";
import { isSniffedProtocol, isTcpProtocol } from "./mesh-protocol";
import { Steps, YIELD_EVERY, runSteps } from "./steps";

export function crossObjectDiagnostics(mesh: Mesh): Diagnostic[] {
  return runSteps(crossObjectDiagnosticsSteps(mesh));
}

/** crossObjectDiagnostics with a yield between checks (each is linear in the services; see ./steps). */
export function* crossObjectDiagnosticsSteps(mesh: Mesh): Steps<Diagnostic[]> {
  const out: Diagnostic[] = [];
  // The two checks that visit every service yield as they go; the others visit rules.
  for (const d of yield* virtualServiceConflicts(mesh)) out.push(d);
  for (const check of [unmatchedVirtualServiceHosts, destinationChecks, destinationRuleChecks]) {
    for (const d of check(mesh)) out.push(d);
    yield;
  }
  for (const d of yield* addressConflicts(mesh)) out.push(d);
  return out;
}

/**
 * Two services with a TCP port on the same address and port would need the
 * same outbound listener (`<address>_<port>`): the first by host keeps it.
 */
function* addressConflicts(mesh: Mesh): Steps<Diagnostic[]> {
  const out: Diagnostic[] = [];
  const owner = new Map<string, MeshService>();
  for (let i = 0; i < mesh.services.length; i++) {
    const svc = mesh.services[i]!;
    if (i % YIELD_EVERY === YIELD_EVERY - 1) yield;
    for (const p of svc.ports) {
      if (!isTcpProtocol(p.protocol) && !isSniffedProtocol(p.protocol)) continue;
      for (const addr of svc.addresses) {
        const key = `${addr}_${p.port}`;
        const first = owner.get(key);
        if (!first) {
          owner.set(key, svc);
          continue;
        }
        if (first.host === svc.host) continue;
        const d: Diagnostic = {
          severity: "warning",
          kind: svc.source === "kubernetes" ? "Service" : "ServiceEntry",
          namespace: svc.namespace,
          name: svc.name,
          message: `${svc.host} port ${p.port} shares address ${addr} with ${first.host}; the TCP listener ${key} routes to ${first.host} only`,
        };
        if (svc.origin) d.origin = svc.origin;
        out.push(d);
      }
    }
  }
  return out;
}

function vsDiag(vs: VirtualService, field: string | undefined, message: string): Diagnostic {
  const d: Diagnostic = { severity: "warning", kind: "VirtualService", namespace: vs.metadata.namespace, name: vs.metadata.name, message };
  if (field) d.field = field;
  if (vs.origin) d.origin = vs.origin;
  return d;
}

function drDiag(dr: DestinationRule, field: string | undefined, message: string): Diagnostic {
  const d: Diagnostic = { severity: "warning", kind: "DestinationRule", namespace: dr.metadata.namespace, name: dr.metadata.name, message };
  if (field) d.field = field;
  if (dr.origin) d.origin = dr.origin;
  return d;
}

const ref = (v: MeshVirtualService) => `${v.namespace}/${v.vs.metadata.name}`;

/** Several mesh VirtualServices for one host: the oldest wins, the others are reported. */
function* virtualServiceConflicts(mesh: Mesh): Steps<Diagnostic[]> {
  const out: Diagnostic[] = [];
  const meshVs = mesh.virtualServices.filter((v) => v.gateways.includes("mesh"));
  // One rule cannot conflict: skip the walk over every service.
  if (meshVs.length < 2) return out;
  // host -> VirtualServices naming it exactly (oldest first); wildcard hosts are few and scanned.
  const exact = new Map<string, MeshVirtualService[]>();
  const wildcard: { host: string; v: MeshVirtualService }[] = [];
  for (const v of meshVs) {
    for (const h of new Set(v.hosts)) {
      if (h.startsWith("*")) wildcard.push({ host: h, v });
      else exact.set(h, [...(exact.get(h) ?? []), v]);
    }
  }
  const reported = new Set<string>();
  for (let i = 0; i < mesh.services.length; i++) {
    const svc = mesh.services[i]!;
    if (i % YIELD_EVERY === YIELD_EVERY - 1) yield;
    let top = exact.get(svc.host) ?? [];
    if (top.length === 0) {
      const matching = wildcard.filter((w) => hostMatches(w.host, svc.host));
      const best = Math.max(-1, ...matching.map((w) => hostSpecificity(w.host)));
      top = [...new Set(matching.filter((w) => hostSpecificity(w.host) === best).map((w) => w.v))].sort((a, b) => meshVs.indexOf(a) - meshVs.indexOf(b));
    }
    for (const loser of top.slice(1)) {
      // Rules that no namespace sees together do not compete.
      if (!exportsOverlap(top[0]!.exportTo, loser.exportTo)) continue;
      const key = `${ref(loser)}|${svc.host}`;
      if (reported.has(key)) continue;
      reported.add(key);
      out.push(
        vsDiag(
          loser.vs,
          "spec.hosts",
          `ignored for host ${svc.host} wherever VirtualService ${ref(top[0]!)} is also visible: that one is older and routes it (the oldest wins)`,
        ),
      );
    }
  }
  return out;
}

/** Is there a namespace both export lists reach? */
function exportsOverlap(a: string[], b: string[]): boolean {
  if (a.includes("~") || b.includes("~")) return false;
  if (a.includes("*") || b.includes("*")) return true;
  return a.some((ns) => b.includes(ns));
}

function unmatchedVirtualServiceHosts(mesh: Mesh): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const v of mesh.virtualServices) {
    if (!v.gateways.includes("mesh")) continue;
    v.hosts.forEach((h, i) => {
      if (mesh.servicesByHost.has(h) || mesh.services.some((s) => hostMatches(h, s.host) || hostMatches(s.host, h))) return;
      out.push(vsDiag(v.vs, `spec.hosts[${i}]`, `host ${h} matches no service or ServiceEntry; sidecars get no routes for it`));
    });
  }
  return out;
}

function serviceKnown(mesh: Mesh, host: string, wildcards: MeshService[]): boolean {
  return mesh.servicesByHost.has(host) || wildcards.some((s) => hostMatches(s.host, host));
}

/** Every destination (route, tcp, tls, mirror): known host, defined subset, existing port. */
function destinationChecks(mesh: Mesh): Diagnostic[] {
  const out: Diagnostic[] = [];
  const wildcards = mesh.services.filter((s) => s.host.startsWith("*"));
  const subsets = subsetIndex(mesh);
  for (const v of mesh.virtualServices) {
    for (const { dest, field } of destinations(v.vs)) {
      const host = resolveHost(dest.host, v.namespace, mesh.options.domainSuffix);
      if (!serviceKnown(mesh, host, wildcards)) {
        out.push(vsDiag(v.vs, `${field}.host`, `destination host ${host} is not a known service or ServiceEntry; requests routed there fail (503)`));
        continue;
      }
      const svc = mesh.servicesByHost.get(host)?.[0];
      if (svc && dest.port?.number !== undefined && !svc.ports.some((p) => p.port === dest.port!.number)) {
        out.push(vsDiag(v.vs, `${field}.port.number`, `service ${host} has no port ${dest.port.number}`));
      }
      if (dest.subset && !subsets(host, dest.subset)) {
        out.push(
          vsDiag(
            v.vs,
            `${field}.subset`,
            `subset "${dest.subset}" of ${host} is not defined by any DestinationRule; the route points at its cluster anyway (as Istio does), which does not exist, so those requests get 503`,
          ),
        );
      }
    }
  }
  return out;
}

/** (host, subset) -> is it defined by some DestinationRule (exact hosts indexed, wildcards scanned)? */
function subsetIndex(mesh: Mesh): (host: string, subset: string) => boolean {
  const exact = new Set<string>();
  const wildcard: { host: string; subset: string }[] = [];
  for (const d of mesh.destinationRules) {
    for (const s of d.rule.spec.subsets ?? []) {
      if (d.host.startsWith("*")) wildcard.push({ host: d.host, subset: s.name });
      else exact.add(`${d.host}|${s.name}`);
    }
  }
  return (host, subset) => exact.has(`${host}|${subset}`) || wildcard.some((w) => w.subset === subset && hostMatches(w.host, host));
}

function destinations(vs: VirtualService): { dest: Destination; field: string }[] {
  const out: { dest: Destination; field: string }[] = [];
  (vs.spec.http ?? []).forEach((r, i) => {
    (r.route ?? []).forEach((d, j) => out.push({ dest: d.destination, field: `spec.http[${i}].route[${j}].destination` }));
    if (r.mirror) out.push({ dest: r.mirror, field: `spec.http[${i}].mirror` });
  });
  (vs.spec.tcp ?? []).forEach((r, i) => (r.route ?? []).forEach((d, j) => out.push({ dest: d.destination, field: `spec.tcp[${i}].route[${j}].destination` })));
  (vs.spec.tls ?? []).forEach((r, i) => (r.route ?? []).forEach((d, j) => out.push({ dest: d.destination, field: `spec.tls[${i}].route[${j}].destination` })));
  return out;
}

function destinationRuleChecks(mesh: Mesh): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const d of mesh.destinationRules) {
    if (!mesh.servicesByHost.has(d.host) && !mesh.services.some((s) => hostMatches(d.host, s.host))) {
      out.push(drDiag(d.rule, "spec.host", `host ${d.host} matches no service or ServiceEntry`));
    }
    for (const { tls, field } of tlsSettings(d.rule)) {
      const problem = unsupportedTls(tls);
      if (problem) out.push(drDiag(d.rule, field, problem));
      else if (mesh.options.systemCaBundle === null && verifiesWithSystemRoots(tls))
        out.push(drDiag(d.rule, field, missingSystemBundleMessage(tls.mode ?? "SIMPLE")));
    }
  }
  return out;
}

/**
 * credentialName is for gateways only (they get it over SDS). ISTIO_MUTUAL is
 * served (the workload's own certificate over SDS, generate/mtls.ts). Rather
 * than send half a TLS context, mini-pilot leaves the TLS block out for
 * sidecars (see clusters).
 */
export function unsupportedTls(tls: ClientTLSSettings): string | undefined {
  if ((tls.mode === "SIMPLE" || tls.mode === "MUTUAL") && tls.credentialName) {
    // Gateways get it over SDS (generate/gateway.ts); Istio ignores credentialName on sidecars.
    return "tls credentialName is served (over SDS) to gateways only; sidecars get this cluster without TLS (use caCertificates, clientCertificate, privateKey files for them)";
  }
  if (tls.mode === "MUTUAL" && (!tls.clientCertificate || !tls.privateKey)) {
    return "tls mode MUTUAL needs clientCertificate and privateKey; the cluster is sent without TLS";
  }
  return undefined;
}

function tlsSettings(dr: DestinationRule): { tls: ClientTLSSettings; field: string }[] {
  const out: { tls: ClientTLSSettings; field: string }[] = [];
  const visit = (p: TrafficPolicy | undefined, at: string) => {
    if (!p) return;
    if (p.tls) out.push({ tls: p.tls, field: `${at}.tls` });
    (p.portLevelSettings ?? []).forEach((pl, i) => pl.tls && out.push({ tls: pl.tls, field: `${at}.portLevelSettings[${i}].tls` }));
  };
  visit(dr.spec.trafficPolicy, "spec.trafficPolicy");
  (dr.spec.subsets ?? []).forEach((s, i) => visit(s.trafficPolicy, `spec.subsets[${i}].trafficPolicy`));
  return out;
}
