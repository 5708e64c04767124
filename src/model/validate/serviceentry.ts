/**
 * ServiceEntry spec: hosts, addresses, ports, resolution and inline
 * endpoints. Follows Istio's ValidateServiceEntry.
 */
import type { ServiceEntrySpec, WorkloadEntrySpec } from "../types";
import { at, type Ctx, idx } from "./ctx";
import { exportTo, labelMap, portNumber } from "./common";
import { checkFQDN, checkIPOrCIDR, checkWildcardDomain, isDNS1123Label, isIPAddress, protocolClass } from "./names";
import { checked, enumOf, int, list, object, record, str } from "./read";

type SEPort = NonNullable<ServiceEntrySpec["ports"]>[number];

const sePort = object<SEPort>(
  { number: portNumber, protocol: str, name: str, targetPort: portNumber },
  {
    check: (p, path, ctx) => {
      if (p.number === undefined) ctx.error(at(path, "number"), "port number is required");
      if (!p.name) ctx.error(at(path, "name"), "port name is required");
      else if (!isDNS1123Label(p.name)) ctx.error(at(path, "name"), `invalid port name: ${p.name}`);
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

const selector = object<NonNullable<ServiceEntrySpec["workloadSelector"]>>({
  labels: checked(labelMap, (labels, path, ctx) => {
    for (const [k, v] of Object.entries(labels)) {
      if (k.includes("*") || v.includes("*")) ctx.error(at(path, k), `wildcard is not supported in selector: "${k}=${v}"`);
    }
  }),
});

function checkHosts(spec: Partial<ServiceEntrySpec>, path: string, ctx: Ctx): void {
  const hosts = spec.hosts ?? [];
  if (hosts.length === 0) ctx.error(at(path, "hosts"), "service entry must have at least one host");
  hosts.forEach((h, i) => {
    const e = h === "*" ? "invalid host *" : checkWildcardDomain(h);
    if (e) ctx.error(idx(at(path, "hosts"), i), e);
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

function checkAddresses(spec: Partial<ServiceEntrySpec>, path: string, ctx: Ctx): void {
  spec.addresses?.forEach((a, i) => {
    const p = idx(at(path, "addresses"), i);
    const e = checkIPOrCIDR(a);
    if (e) ctx.error(p, e);
    else if (a.includes("/") && spec.resolution !== undefined && spec.resolution !== "NONE" && spec.resolution !== "STATIC") {
      ctx.error(p, "CIDR addresses are allowed only for NONE/STATIC resolution types");
    }
  });
}

function checkPortsUnique(spec: Partial<ServiceEntrySpec>, path: string, ctx: Ctx): void {
  const names = new Set<string>();
  const numbers = new Set<number>();
  spec.ports?.forEach((p, i) => {
    const pp = idx(at(path, "ports"), i);
    if (p.name !== undefined && names.has(p.name)) ctx.error(at(pp, "name"), `service entry port name "${p.name}" already defined`);
    if (p.number !== undefined && numbers.has(p.number)) ctx.error(at(pp, "number"), `service entry port ${p.number} already defined`);
    if (p.name !== undefined) names.add(p.name);
    if (p.number !== undefined) numbers.add(p.number);
  });
}

function checkEndpoint(e: WorkloadEntrySpec, dns: boolean, portNames: Set<string>, path: string, ctx: Ctx): void {
  const address = e.address ?? "";
  if (address === "") ctx.error(at(path, "address"), "address is required");
  else if (address.startsWith("unix://")) {
    if (dns) ctx.error(at(path, "address"), `endpoint address "${address}" is not a valid FQDN or an IP address`);
  } else if (!isIPAddress(address)) {
    if (!dns) ctx.error(at(path, "address"), `endpoint address "${address}" is not a valid IP address`);
    else if (checkFQDN(address)) ctx.error(at(path, "address"), `endpoint address "${address}" is not a valid FQDN or an IP address`);
  }
  for (const name of Object.keys(e.ports ?? {})) {
    if (!portNames.has(name)) ctx.error(at(at(path, "ports"), name), `endpoint port "${name}" is not defined by the service entry`);
  }
}

function checkResolution(spec: Partial<ServiceEntrySpec>, path: string, ctx: Ctx): void {
  const resolution = spec.resolution ?? "NONE";
  const endpoints = spec.endpoints ?? [];
  const portNames = new Set((spec.ports ?? []).map((p) => p.name));
  if (resolution === "NONE") {
    if (endpoints.length > 0) ctx.error(at(path, "endpoints"), "no endpoints should be provided for resolution type none");
    if (spec.workloadSelector) ctx.warn(at(path, "workloadSelector"), "workloadSelector should not be set when resolution mode is NONE");
    return;
  }
  const dns = resolution !== "STATIC";
  if (resolution === "STATIC" && endpoints.length === 0 && !spec.workloadSelector) {
    ctx.warn(at(path, "endpoints"), "resolution STATIC without endpoints or a workloadSelector has no endpoints");
  }
  if (dns && endpoints.length === 0) {
    spec.hosts?.forEach((h, i) => {
      if (h !== "*" && !checkWildcardDomain(h) && checkFQDN(h)) {
        ctx.error(idx(at(path, "hosts"), i), `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution}`);
      }
    });
  }
  if (resolution === "DNS_ROUND_ROBIN" && endpoints.length > 1) {
    ctx.error(at(path, "endpoints"), "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN");
  }
  endpoints.forEach((e, i) => checkEndpoint(e, dns, portNames, idx(at(path, "endpoints"), i), ctx));
}

export const serviceEntrySpec = object<ServiceEntrySpec>(
  {
    hosts: list(str),
    addresses: list(str),
    ports: list(sePort),
    location: enumOf("MESH_EXTERNAL", "MESH_INTERNAL"),
    resolution: enumOf("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"),
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
