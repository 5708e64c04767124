/**
 * Readers for pieces several Istio kinds share: string matches, destinations,
 * ports, labels, percentages, header operations, exportTo and gateway names.
 * Messages follow Istio's `pkg/config/validation` wording where it has one.
 */
import type { Destination, HeaderOperations, Headers, Percent, PortSelector, StringMatch } from "../types";
import { at, Ctx, idx } from "./ctx";
import { checkHeaderValue, checkLabelKey, checkLabelValue, checkPort, checkWildcardDomain, checkFQDN, isIstioLabel } from "./names";
import { checkRE2 } from "./regex";
import { checked, int, list, num, object, record, str, type Reader } from "./read";

/** A port number field (1..65535). */
export const portNumber: Reader<number> = checked(int, (n, path, ctx) => {
  const e = checkPort(n);
  if (e) ctx.error(path, e);
});

/** A Kubernetes label map: keys and values checked. */
export const labelMap: Reader<Record<string, string>> = checked(record(str), (labels, path, ctx) => {
  for (const [k, v] of Object.entries(labels)) {
    const e = checkLabelKey(k) ?? checkLabelValue(v);
    if (e) ctx.error(at(path, k), e);
  }
});

interface StringMatchRules {
  /** The URI may match on an empty prefix ("everything"); other matches may not. */
  allowEmptyPrefix?: boolean;
  /** In withoutHeaders, regex "*" is not RE2 but means "header present". */
  allowStarRegex?: boolean;
}

function checkStringMatch(m: Partial<StringMatch>, path: string, ctx: Ctx, rules: StringMatchRules): void {
  const set = (["exact", "prefix", "regex"] as const).filter((k) => m[k] !== undefined);
  if (set.length > 1) {
    ctx.error(path, `only one of exact, prefix or regex may be set (found ${set.join(" and ")})`);
    return;
  }
  if (m.prefix === "" && !rules.allowEmptyPrefix) ctx.error(at(path, "prefix"), "prefix string match should not be empty");
  if (m.regex !== undefined && !(m.regex === "*" && rules.allowStarRegex)) {
    const e = m.regex === "" ? "regex string match should not be empty" : checkRE2(m.regex);
    if (e) ctx.error(at(path, "regex"), e);
  }
}

function stringMatchWith(rules: StringMatchRules): Reader<StringMatch> {
  return object<StringMatch>({ exact: str, prefix: str, regex: str }, { check: (m, path, ctx) => checkStringMatch(m, path, ctx, rules) });
}

/** StringMatch for headers, query parameters, scheme, method, authority, CORS origins. */
export const stringMatch = stringMatchWith({});
/** StringMatch for the URI. */
export const uriMatch = stringMatchWith({ allowEmptyPrefix: true });
/** StringMatch for withoutHeaders. */
export const absentHeaderMatch = stringMatchWith({ allowStarRegex: true });

export const portSelector: Reader<PortSelector> = object<PortSelector>({ number: portNumber });

/** A destination's port: when the block is there, its number must be too (Istio reads a missing one as 0). */
const destinationPort: Reader<PortSelector> = checked(portSelector, (p, path, ctx) => {
  if (p.number === undefined) ctx.error(at(path, "number"), "port number 0 must be in the range 1..65535");
});

export const destination: Reader<Destination> = object<Destination>(
  { host: str, subset: str, port: destinationPort },
  {
    check: (d, path, ctx) => {
      if (!d.host) ctx.error(at(path, "host"), "destination host is required");
      else if (d.host === "*") ctx.error(at(path, "host"), "invalid destination host *");
      else {
        const e = checkWildcardDomain(d.host);
        if (e) ctx.error(at(path, "host"), e);
      }
      if (d.subset !== undefined && !isIstioLabel(d.subset)) {
        ctx.error(at(path, "subset"), d.subset === "" ? "subset name cannot be empty" : `subset name is invalid: ${d.subset}`);
      }
    },
  },
);

/** Istio's fractional percentage: 0, or within [0.0001, 100]. */
export const percent: Reader<Percent> = object<Percent>(
  { value: num },
  {
    check: (p, path, ctx) => {
      const v = p.value ?? 0;
      if (v < 0 || v > 100 || (v > 0 && v < 0.0001)) {
        ctx.error(at(path, "value"), `percentage ${v} is neither 0.0, nor in range [0.0001, 100.0]`);
      }
    },
  },
);

/** An integer percentage (0..100), e.g. maxEjectionPercent. */
export const intPercent: Reader<number> = checked(int, (v, path, ctx) => {
  if (v < 0 || v > 100) ctx.error(path, `percentage ${v} is not in range 0..100`);
});

function isInternalHeader(name: string): boolean {
  return name.startsWith(":") || name.toLowerCase() === "host";
}

function isAuthorityHeader(name: string): boolean {
  return name.toLowerCase() === ":authority" || name.toLowerCase() === "host";
}

// Envoy refuses these in a header name even without strict checking.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NUL_CR_LF = /[\u0000\r\n]/;

// Request set/add may target the authority (checked against rewrite.authority by the route);
// everything else may not touch pseudo-headers or Host. Like Istio, other names are not
// held to RFC 7230 tokens; only what Envoy would refuse is.
function checkOperationName(name: string, allowAuthority: boolean): string | undefined {
  if (name === "") return "header name cannot be empty";
  if (allowAuthority && isAuthorityHeader(name)) return undefined;
  if (name.toLowerCase() === "host") return `invalid header "${name}": cannot set Host header`;
  if (isInternalHeader(name)) return `invalid header "${name}": header cannot have ":" prefix`;
  return NUL_CR_LF.test(name) ? `header name ${JSON.stringify(name)} contains NUL, CR or LF` : undefined;
}

function headerOperations(request: boolean): Reader<HeaderOperations> {
  const values: Reader<Record<string, string>> = checked(record(str), (m, path, ctx) => {
    for (const [k, v] of Object.entries(m)) {
      const e = checkOperationName(k, request) ?? checkHeaderValue(v);
      if (e) ctx.error(at(path, k), e);
    }
  });
  const removals: Reader<string[]> = checked(list(str), (names, path, ctx) => {
    names.forEach((n, i) => {
      const e = checkOperationName(n, false);
      if (e) ctx.error(idx(path, i), e);
    });
  });
  return object<HeaderOperations>({ set: values, add: values, remove: removals });
}

export const headers: Reader<Headers> = object<Headers>({ request: headerOperations(true), response: headerOperations(false) });

/** Where the authority is rewritten: `rewrite.authority`, or a request header set/add of :authority/Host. Only one may. */
export function authorityRewrites(rewriteAuthority: string | undefined, h: Headers | undefined): string[] {
  const out = rewriteAuthority ? [rewriteAuthority] : [];
  for (const ops of [h?.request?.set, h?.request?.add]) {
    for (const [k, v] of Object.entries(ops ?? {})) if (isAuthorityHeader(k)) out.push(v);
  }
  return out;
}

export interface ExportToRules {
  /** A ServiceEntry may be exported to "~" (nobody but its own proxies). */
  serviceEntry?: boolean;
  /** A DestinationRule with a workload selector stays in its namespace. */
  workloadSelector?: boolean;
}

/** Istio's validateExportTo: "*", ".", namespaces, "~" for ServiceEntry; no duplicates or mixes. */
export function checkExportTo(entries: string[], path: string, ctx: Ctx, rules: ExportToRules = {}): void {
  const namespace = ctx.subject.namespace ?? "";
  const seen = new Set<string>();
  entries.forEach((e, i) => {
    const key = e === "." ? namespace : e;
    if (seen.has(key)) {
      ctx.error(
        idx(path, i),
        key !== e ? `duplicate entries in exportTo: . and current namespace ${namespace}` : `duplicate entries in exportTo for entry ${e}`,
      );
      return;
    }
    if (e === "~" && !rules.serviceEntry) ctx.error(idx(path, i), "exportTo ~ (none) is not allowed for Istio configuration objects");
    else if (e !== "*" && e !== "~" && !isIstioLabel(key)) ctx.error(idx(path, i), "only .,*, or a valid DNS 1123 label is allowed as exportTo entry");
    else seen.add(key);
  });
  if (rules.workloadSelector && seen.size > 0) {
    if (!seen.has(namespace)) ctx.error(path, "destination rule with workload selector cannot have exportTo beyond current namespace");
    else if (seen.size > 1) ctx.error(path, "destination rule with workload selector cannot have multiple entries in exportTo");
  }
  if (seen.has("*") && entries.length > 1) ctx.error(path, "cannot have both public (*) and non-public exportTo values for a resource");
  if (seen.has("~") && entries.length > 1) ctx.error(path, "cannot export service entry to no one (~) and someone");
}

/** exportTo as a reader; the DestinationRule adds its workload-selector rule itself. */
export function exportTo(isServiceEntry: boolean): Reader<string[]> {
  return checked(list(str), (entries, path, ctx) => checkExportTo(entries, path, ctx, { serviceEntry: isServiceEntry }));
}

/** Gateway references in a VirtualService or match: "mesh", "ns/name", or a legacy name/FQDN (warned). */
export const gatewayNames: Reader<string[]> = checked(list(str), (names, path, ctx) => {
  names.forEach((g, i) => {
    const p = idx(path, i);
    const slash = g.indexOf("/");
    if (slash < 0) {
      if (g.includes(".")) {
        const [name = "", ns = ""] = g.split(".");
        ctx.warn(p, `using legacy gatewayName format "${g}"; prefer the <namespace>/<name> format: "${ns}/${name}"`);
      }
      const e = checkFQDN(g);
      if (e) ctx.error(p, e);
      return;
    }
    const ns = g.slice(0, slash);
    const name = g.slice(slash + 1);
    if (ns === "" || name === "") ctx.error(p, "config namespace and gateway name cannot be empty");
    if (!isIstioLabel(ns)) ctx.error(p, `invalid value for namespace: "${ns}"`);
    if (!isIstioLabel(name)) ctx.error(p, `invalid value for gateway name: "${name}"`);
  });
});
