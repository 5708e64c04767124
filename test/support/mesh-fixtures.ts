/** Object builders the generate unit tests share: a proxy parsed from its id and labels, an IPv4 EndpointSlice. */
import { parseProxy, ProxyView } from "../../src/model/proxy";
import type { EndpointSlice } from "../../src/model/types";

/** The proxy `id` (`sidecar~ip~pod.ns~ns.svc.cluster.local`) with `labels`, parsed as the server parses a node. */
export function proxy(id: string, labels: Record<string, string>): ProxyView {
  const r = parseProxy(id, { LABELS: labels });
  if (!r.ok) throw new Error(r.error);
  return r.proxy;
}

/** `<service>-1`: an IPv4 EndpointSlice of `service` in `default` with one port, named `http`. */
export function endpointSlice(service: string, port: number, endpoints: EndpointSlice["spec"]["endpoints"]): EndpointSlice {
  return {
    kind: "EndpointSlice",
    apiVersion: "discovery.k8s.io/v1",
    metadata: { name: `${service}-1`, namespace: "default" },
    spec: { addressType: "IPv4", serviceName: service, ports: [{ name: "http", port }], endpoints },
  };
}
