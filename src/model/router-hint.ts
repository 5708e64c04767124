/**
 * A router (gateway) proxy that no Gateway selects gets no listeners: Envoy
 * starts, accepts nothing and says nothing. Istio is as quiet; this hint names
 * the proxy and its labels so a selector typo is found in seconds.
 *
 * Not part of generation: it names one proxy's id and all its labels, while
 * generated config is shared by every proxy with the same effective view.
 * The commands ask for it per proxy (translate, static, and serve when a
 * proxy connects).
 */
import type { Mesh } from "./mesh";
import { labelsMatch } from "./mesh-hosts";
import type { ProxyView } from "./proxy";
import type { Diagnostic } from "./types";

export function unselectedRouterHint(mesh: Mesh, proxy: ProxyView): Diagnostic[] {
  if (proxy.kind !== "router") return [];
  if (mesh.gateways.some((g) => labelsMatch(g.spec.selector ?? {}, proxy.labels))) return [];
  const labels = Object.keys(proxy.labels)
    .sort()
    .map((k) => `${k}=${proxy.labels[k]}`)
    .join(",");
  const selectors = [
    ...new Set(
      mesh.gateways.map(
        (g) =>
          `${g.metadata.namespace}/${g.metadata.name} selects {${Object.entries(g.spec.selector ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(",")}}`,
      ),
    ),
  ].sort();
  return [
    {
      severity: "warning",
      message:
        `router proxy ${proxy.id} with labels {${labels}} is selected by no Gateway, so it gets no listeners; ` +
        (selectors.length ? `a Gateway's spec.selector must be a subset of those labels (${selectors.join("; ")})` : "there are no Gateways"),
    },
  ];
}
