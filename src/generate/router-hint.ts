/**
 * A router (gateway) proxy that no Gateway selects gets no listeners: Envoy
 * starts, accepts nothing and says nothing. Istio is as quiet; this hint names
 * the proxy and its labels so a selector typo is found in seconds.
 */
import type { Mesh } from "../model/mesh";
import { labelsMatch } from "../model/mesh-hosts";
import type { ProxyView } from "../model/proxy";
import type { Diagnostic } from "../model/types";

export function unselectedRouterHint(mesh: Mesh, proxy: ProxyView): Diagnostic[] {
  if (proxy.kind !== "router") return [];
  if (mesh.gateways.some((g) => labelsMatch(g.spec.selector ?? {}, proxy.labels))) return [];
  const labels = Object.keys(proxy.labels)
    .sort()
    .map((k) => `${k}=${proxy.labels[k]}`)
    .join(",");
  const selectors = [...new Set(mesh.gateways.map((g) => `${g.metadata.namespace}/${g.metadata.name} selects {${Object.entries(g.spec.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(",")}}`))].sort();
  return [
    {
      severity: "warning",
      message:
        `router proxy ${proxy.id} with labels {${labels}} is selected by no Gateway, so it gets no listeners; ` +
        (selectors.length ? `a Gateway's spec.selector must be a subset of those labels (${selectors.join("; ")})` : "there are no Gateways"),
    },
  ];
}
