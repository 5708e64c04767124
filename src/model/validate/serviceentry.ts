/**
 * ServiceEntry spec: hosts, addresses, ports, resolution and inline
 * endpoints. Follows Istio's ValidateServiceEntry.
 */
import type { ServiceEntrySpec, WorkloadEntrySpec } from "../types";
import { at, type Ctx, idx } from "./ctx";
import { exportTo, labelMap, portNumber } from "./common";
import {
  checkFQDN,
  checkIPOrCIDR,
  checkPartialWildcard,
  checkPort,
  checkUnixAddress,
  checkWildcardDomain,
  isIPAddress,
  isIstioLabel,
  protocolClass,
} from "./names";
import { checked, enumOf, int, list, object, record, str, type Reader } from "./read";

type Resolution = NonNullable<ServiceEntrySpec["resolution"]> | "DYNAMIC_DNS";
type RawSpec = Omit<ServiceEntrySpec, "resolution"> & { resolution?: Resolution };

/** targetPort 0 means "the same as number" (proto3's unset), so it is read as absent. */
const targetPort: Reader<number> = (v, path, ctx) => {
  const n = int(v, path, ctx);
  if (n === undefined || n === 0) return undefined;
  const e = checkPort(n);
  if (e) ctx.error(path, e);
  return n;
};

type SEPort = NonNullable<ServiceEntrySpec["ports"]>[number];

const sePort = object<SEPort>(
  { number: portNumber, protocol: str, name: str, targetPort },
  {
    check: (p, path, ctx) => {
      if (p.number === undefined) ctx.error(at(path, "number"), "port number 0 must be in the range 1..65535");
      if (!isIstioLabel(p.name ?? "")) ctx.error(at(path, "name"), `invalid port name: ${p.name ?? ""}`);
      if (p.protocol && protocolClass(p.protocol) === undefined) ctx.error(at(path, "protocol"), `unsupported protocol: ${p.protocol}`);
    },
  },
);

const workloadEntry = object<WorkloadEntrySpec>({
  address: str,
  ports: record(portNumber),
  labels: labelMap,
  network: str,
  locality: str,
  weight: int,
  serviceAccount: str,
});

const selector = object<NonNullable<ServiceEntrySpec["workloadSelector"]>>(
  {
    labels: checked(labelMap, (labels, path, ctx) => {
      for (const [k, v] of Object.entries(labels)) {
        if (k.includes("*") || v.includes("*")) ctx.error(at(path, k), `wildcard is not supported in selector: "${k}=${v}"`);
      }
    }),
  },
  {
    check: (w, path, ctx) => {
      if (!w.labels || Object.keys(w.labels).length === 0) {
        ctx.warn(path, "service entry: workload selector specified without labels, will be applied to all services in namespace");
      }
    },
  },
);

function checkHosts(spec: Partial<RawSpec>, path: string, ctx: Ctx): void {
  const hosts = spec.hosts ?? [];
  if (hosts.length === 0) ctx.error(at(path, "hosts"), "service entry must have at least one host");
  hosts.forEach((h, i) => {
    const p = idx(at(path, "hosts"), i);
    const e = h === "*" ? "invalid host *" : checkWildcardDomain(h);
    if (e) ctx.error(p, e);
    // Only DYNAMIC_DNS makes sense of a partial wildcard; elsewhere Istio warns.
    const partial = h === "*" || spec.resolution === "DYNAMIC_DNS" ? undefined : checkPartialWildcard(h);
    if (partial) ctx.warn(p, partial);
  });
  const resolution = spec.resolution ?? "NONE";
  // Plain TCP carries no host name, so several hosts on one port cannot be told apart.
  if (
    resolution !== "NONE" &&
    hosts.length > 1 &&
    spec.ports?.some((p) => protocolClass(p.protocol ?? "") !== "http" && protocolClass(p.protocol ?? "") !== "tls")
  ) {
    ctx.error(at(path, "hosts"), "multiple hosts provided with non-HTTP, non-TLS ports");
  }
}

function checkAddresses(spec: Partial<RawSpec>, path: string, ctx: Ctx): void {
  spec.addresses?.forEach((a, i) => {
    const p = idx(at(path, "addresses"), i);
    const e = checkIPOrCIDR(a);
    if (e) ctx.error(p, e);
    else if (a.includes("/") && spec.resolution !== undefined && spec.resolution !== "NONE" && spec.resolution !== "STATIC") {
      ctx.error(p, "CIDR addresses are allowed only for NONE/STATIC resolution types");
    }
  });
}

// Istio allocates an address for a ServiceEntry without one, unless resolution is NONE or the label opts out.
function autoAllocates(spec: Partial<RawSpec>, ctx: Ctx): boolean {
  const optOut = ctx.subject.labels?.["networking.istio.io/enable-autoallocate-ip"]?.toLowerCase() === "false";
  return (spec.resolution ?? "NONE") !== "NONE" && !optOut && (spec.addresses?.length ?? 0) === 0;
}

function checkPortsUnique(spec: Partial<RawSpec>, path: string, ctx: Ctx): void {
  const needAddress = (spec.addresses?.length ?? 0) === 0 && !autoAllocates(spec, ctx);
  const names = new Set<string>();
  const numbers = new Set<number>();
  spec.ports?.forEach((p, i) => {
    const pp = idx(at(path, "ports"), i);
    if (p.name !== undefined && names.has(p.name)) ctx.error(at(pp, "name"), `service entry port name "${p.name}" already defined`);
    if (p.number !== undefined && numbers.has(p.number)) ctx.error(at(pp, "number"), `service entry port ${p.number} already defined`);
    if (p.name !== undefined) names.add(p.name);
    if (p.number !== undefined) numbers.add(p.number);
    // TCP carries no host name: without an address the proxy cannot tell this service's traffic apart.
    if (needAddress && (p.protocol === undefined || p.protocol === "" || p.protocol === "TCP")) {
      ctx.warn(pp, "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled");
    }
  });
}

function checkEndpointPorts(e: WorkloadEntrySpec, portNames: Set<string | undefined>, path: string, ctx: Ctx): void {
  for (const name of Object.keys(e.ports ?? {})) {
    const p = at(at(path, "ports"), name);
    if (!portNames.has(name)) ctx.error(p, `endpoint port "${name}" is not defined by the service entry`);
    if (!isIstioLabel(name)) ctx.error(p, `invalid port name: ${name}`);
  }
}

/** STATIC endpoints: an IP or a unix socket (one service port, no endpoint ports); no address only with a network. */
function checkStaticEndpoint(e: WorkloadEntrySpec, portNames: Set<string | undefined>, path: string, ctx: Ctx): void {
  const address = e.address ?? "";
  const p = at(path, "address");
  if (address === "") {
    if (!e.network) ctx.error(p, "address is required");
    else ctx.warn(p, `address is unset with network "${e.network}"`);
  } else if (address.startsWith("unix://")) {
    const err = checkUnixAddress(address.slice("unix://".length));
    if (err) ctx.error(p, err);
    if (Object.keys(e.ports ?? {}).length > 0) ctx.error(at(path, "ports"), `unix endpoint ${address} must not include ports`);
    if (portNames.size !== 1) ctx.error(p, "exactly 1 service port required for unix endpoints");
  } else if (!isIPAddress(address)) ctx.error(p, `endpoint address "${address}" is not a valid IP address`);
  checkEndpointPorts(e, portNames, path, ctx);
}

/** DNS endpoints: an IP or a host name. */
function checkDNSEndpoint(e: WorkloadEntrySpec, portNames: Set<string | undefined>, path: string, ctx: Ctx): void {
  const address = e.address ?? "";
  if (!isIPAddress(address) && checkFQDN(address)) ctx.error(at(path, "address"), `endpoint address "${address}" is not a valid FQDN or an IP address`);
  checkEndpointPorts(e, portNames, path, ctx);
}

const DYNAMIC_DNS_PROTOCOLS = new Set(["HTTP", "TLS", "GRPC", "HTTP2"]);

function checkDynamicDNS(spec: Partial<RawSpec>, path: string, ctx: Ctx): void {
  spec.hosts?.forEach((h, i) => {
    if (!h.startsWith("*")) ctx.error(idx(at(path, "hosts"), i), "host must be wildcarded for resolution mode DYNAMIC_DNS");
  });
  if (spec.addresses?.length) {
    ctx.error(
      at(path, "addresses"),
      "addresses cannot be set for resolution type DYNAMIC_DNS. HTTP route domains will only be generated from the hosts field values",
    );
  }
  if (spec.endpoints?.length) {
    ctx.error(at(path, "endpoints"), "endpoints cannot be set for resolution type DYNAMIC_DNS. Destination IP address determined from hosts field values");
  }
  spec.ports?.forEach((p, i) => {
    if (!DYNAMIC_DNS_PROTOCOLS.has((p.protocol ?? "").toUpperCase())) {
      ctx.error(at(idx(at(path, "ports"), i), "protocol"), "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS");
    }
  });
}

function checkResolution(spec: Partial<RawSpec>, path: string, ctx: Ctx): void {
  const resolution = spec.resolution ?? "NONE";
  const endpoints = spec.endpoints ?? [];
  const portNames = new Set((spec.ports ?? []).map((p) => p.name));
  const endpointPath = (i: number): string => idx(at(path, "endpoints"), i);
  if (resolution === "NONE") {
    if (endpoints.length > 0) ctx.error(at(path, "endpoints"), "no endpoints should be provided for resolution type none");
    if (spec.workloadSelector) ctx.warn(at(path, "workloadSelector"), "workloadSelector should not be set when resolution mode is NONE");
  } else if (resolution === "STATIC") {
    endpoints.forEach((e, i) => checkStaticEndpoint(e, portNames, endpointPath(i), ctx));
  } else if (resolution === "DYNAMIC_DNS") {
    checkDynamicDNS(spec, path, ctx);
  } else {
    if (endpoints.length === 0) {
      const i = spec.hosts?.findIndex((h) => checkFQDN(h) !== undefined) ?? -1;
      if (i >= 0) ctx.error(idx(at(path, "hosts"), i), `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution}`);
    }
    if (resolution === "DNS_ROUND_ROBIN" && endpoints.length > 1) {
      ctx.error(at(path, "endpoints"), "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN");
    }
    endpoints.forEach((e, i) => checkDNSEndpoint(e, portNames, endpointPath(i), ctx));
    const tcp = spec.ports?.some((p) => TCP_LIKE.has((p.protocol ?? "").toUpperCase())) ?? false;
    if ((spec.addresses?.length ?? 0) > 0 && tcp && (spec.hosts?.length ?? 0) > 1) {
      ctx.warn(at(path, "hosts"), "service entry can not have more than one host specified simultaneously with address and tcp port");
    }
  }
}

// Protocols carried over plain TCP connections (Istio's protocol.IsTCP).
const TCP_LIKE = new Set(["TCP", "HTTPS", "TLS", "MONGO", "REDIS", "MYSQL"]);

const rawServiceEntrySpec = object<RawSpec>(
  {
    hosts: list(str),
    addresses: list(str),
    ports: list(sePort),
    location: enumOf("MESH_EXTERNAL", "MESH_INTERNAL"),
    resolution: enumOf("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"),
    endpoints: list(workloadEntry),
    workloadSelector: selector,
    exportTo: exportTo(true),
    subjectAltNames: list(str),
  },
  {
    check: (spec, path, ctx) => {
      if (spec.workloadSelector && spec.endpoints) ctx.error(path, "only one of WorkloadSelector or Endpoints is allowed in Service Entry");
      checkHosts(spec, path, ctx);
      checkAddresses(spec, path, ctx);
      checkPortsUnique(spec, path, ctx);
      checkResolution(spec, path, ctx);
    },
  },
);

/**
 * The ServiceEntry spec. DYNAMIC_DNS is checked as Istio does, then the
 * object is skipped with a warning: mini-pilot builds no dynamic forward proxy.
 */
export function serviceEntrySpec(v: unknown, path: string, ctx: Ctx): ServiceEntrySpec | undefined {
  const spec = rawServiceEntrySpec(v, path, ctx);
  if (spec?.resolution !== "DYNAMIC_DNS") return spec as ServiceEntrySpec | undefined;
  ctx.warn(at(path, "resolution"), "resolution DYNAMIC_DNS (dynamic forward proxy) is not supported by mini-pilot; the ServiceEntry is ignored");
  return undefined;
}
