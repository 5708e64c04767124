/**
 * What Istio's analyzers say about Sidecars (sidecar.SelectorAnalyzer:
 * IST0101 a selector that matches no pod, IST0110 several Sidecars selecting
 * one pod, IST0111 several Sidecars without selector in one namespace), plus
 * egress hosts that match no service. All are warnings: the mesh keeps
 * serving, and where istiod picks one Sidecar the message says which.
 */
import type { Diagnostic, Sidecar } from "./types";
import type { Mesh } from "./mesh-types";
import { labelsMatch, olderFirst, visibleTo } from "./mesh-hosts";
import { importsService, parseEgressHosts } from "./mesh-sidecar";

function diag(s: Sidecar, field: string | undefined, message: string): Diagnostic {
  const d: Diagnostic = { severity: "warning", kind: "Sidecar", namespace: s.metadata.namespace, name: s.metadata.name, message };
  if (field) d.field = field;
  if (s.origin) d.origin = s.origin;
  return d;
}

const hasSelector = (s: Sidecar) => Object.keys(s.spec.workloadSelector?.labels ?? {}).length > 0;
const names = (list: Sidecar[]) => `[${list.map((s) => s.metadata.name).join(" ")}]`;

export function sidecarDiagnostics(mesh: Mesh, sidecars: Sidecar[]): Diagnostic[] {
  if (sidecars.length === 0) return [];
  const sorted = [...sidecars].sort((a, b) => olderFirst(a.metadata, b.metadata));
  return [...selectorChecks(mesh, sorted), ...namespaceDefaultChecks(sorted), ...sorted.flatMap((s) => egressHostChecks(mesh, s))];
}

function selectorChecks(mesh: Mesh, sorted: Sidecar[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const byPod = new Map<string, Sidecar[]>();
  for (const s of sorted.filter(hasSelector)) {
    const sel = s.spec.workloadSelector!.labels!;
    const pods = mesh.pods.filter((p) => p.metadata.namespace === s.metadata.namespace && labelsMatch(sel, p.metadata.labels ?? {}));
    if (pods.length === 0) {
      const text = Object.entries(sel)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      out.push(
        diag(
          s,
          "spec.workloadSelector.labels",
          `IST0101 Referenced selector not found: "${text}" (no pod in namespace ${s.metadata.namespace} has these labels)`,
        ),
      );
    }
    for (const p of pods) {
      const key = `${p.metadata.namespace}/${p.metadata.name}`;
      byPod.set(key, [...(byPod.get(key) ?? []), s]);
    }
  }
  for (const [pod, list] of byPod) {
    if (list.length < 2) continue;
    const [ns, name] = pod.split("/");
    for (const s of list) {
      out.push(
        diag(
          s,
          "spec.workloadSelector",
          `IST0110 The Sidecars ${names(list)} in namespace "${ns}" select the same workload pod "${name}", which can lead to undefined behavior; ` +
            `istiod applies the oldest, ${list[0]!.metadata.name}`,
        ),
      );
    }
  }
  return out;
}

function namespaceDefaultChecks(sorted: Sidecar[]): Diagnostic[] {
  const byNamespace = new Map<string, Sidecar[]>();
  for (const s of sorted.filter((x) => !hasSelector(x))) byNamespace.set(s.metadata.namespace, [...(byNamespace.get(s.metadata.namespace) ?? []), s]);
  const out: Diagnostic[] = [];
  for (const [ns, list] of byNamespace) {
    if (list.length < 2) continue;
    for (const s of list) {
      out.push(
        diag(
          s,
          undefined,
          `IST0111 The Sidecars ${names(list)} in namespace "${ns}" have no workload selector, which can lead to undefined behavior; ` +
            `istiod applies the oldest, ${list[0]!.metadata.name}`,
        ),
      );
    }
  }
  return out;
}

/**
 * An egress host entry that imports no service (seen from the Sidecar's own
 * namespace) is most likely a typo. Exclusions, `*` namespaces with `*`
 * hosts, and `.` entries of the root-namespace default (which apply to every
 * namespace) are not checked.
 */
function egressHostChecks(mesh: Mesh, s: Sidecar): Diagnostic[] {
  const out: Diagnostic[] = [];
  const ns = s.metadata.namespace;
  const isRootDefault = ns === mesh.options.rootNamespace && !s.spec.workloadSelector;
  (s.spec.egress ?? []).forEach((l, i) => {
    l.hosts.forEach((h, j) => {
      const [hostNs = "", name = ""] = h.split("/");
      if (hostNs.startsWith("~") || (hostNs === "*" && name === "*") || (hostNs === "." && isRootDefault)) return;
      const imports = parseEgressHosts([h], ns);
      const [target, hc] = [...imports][0] ?? [];
      if (!hc || target === undefined) return;
      const found = mesh.services.some(
        (svc) =>
          (target === "*" || svc.namespace === target) && visibleTo(svc.exportTo, ns) && (name === "*" || importsService(hc, svc.host) || svc.host === name),
      );
      if (!found) {
        const what =
          name === "*" ? `no service in namespace ${target} is visible to namespace ${ns}` : "it matches no service visible to the Sidecar's namespace";
        out.push(diag(s, `spec.egress[${i}].hosts[${j}]`, `egress host "${h}" imports nothing: ${what}`));
      }
    });
  });
  return out;
}
