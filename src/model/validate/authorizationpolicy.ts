/**
 * AuthorizationPolicy spec (security.istio.io/v1). Follows Istio's
 * ValidateAuthorizationPolicy (pkg/config/validation) and the value checks of
 * pkg/config/security, with Istio's messages; each names the rule's path.
 *
 * Errors refuse the policy (the workloads it selects keep their last valid
 * version). What Istio accepts but mini-pilot cannot enforce is a warning:
 * AUDIT (translated, but no access logger reads its mark) and CUSTOM (no ext_authz provider; enforced as a
 * deny of the requests it matches, as istiod does for a broken provider),
 * request principals and JWT claims (no RequestAuthentication), the dry-run
 * annotation is supported (shadow rules).
 */
import type {
  AuthorizationCondition,
  AuthorizationOperation,
  AuthorizationPolicySpec,
  AuthorizationRule,
  AuthorizationSource,
  PolicyTargetReference,
} from "../types";
import { at, Ctx, idx } from "./ctx";
import { checkIPOrCIDR, checkMatchHeaderName } from "./names";
import { checked, enumOf, list, object, record, str, type Reader } from "./read";

const strings: Reader<string[]> = list(str);

/** Istio's CheckEmptyValues. */
function checkEmpty(values: string[] | undefined, name: string, path: string, ctx: Ctx): void {
  values?.forEach((v, i) => {
    if (v === "") ctx.error(idx(path, i), `empty value not allowed, found in ${name}`);
  });
}

/** Istio's ValidateIPs: an address or a CIDR block. */
function checkIPs(values: string[] | undefined, path: string, ctx: Ctx): void {
  values?.forEach((v, i) => {
    if (v === "") return; // reported by checkEmpty
    if (checkIPOrCIDR(v) === undefined) return;
    ctx.error(idx(path, i), v.includes("/") ? `bad CIDR range (${v})` : `bad IP address (${v})`);
  });
}

/** Istio's ValidatePorts: a decimal 0..65535 as a string. */
function checkPorts(values: string[] | undefined, path: string, ctx: Ctx): void {
  values?.forEach((v, i) => {
    if (!/^\d+$/.test(v) || Number(v) > 65535) ctx.error(idx(path, i), `bad port (${v})`);
  });
}

/** Istio's CheckServiceAccount: `sa` or `ns/sa`, no wildcard, at most 16 values. */
function checkServiceAccounts(values: string[] | undefined, name: string, path: string, ctx: Ctx): void {
  if (!values) return;
  if (values.length > 16) ctx.error(path, "may not have more than 16 values");
  values.forEach((v, i) => {
    const p = idx(path, i);
    if (v === "") ctx.error(p, `empty value not allowed, found in ${name}`);
    else if (v.includes("*")) ctx.error(p, `wildcard not allowed, found in ${name}`);
    else if ((v.match(/\//g) ?? []).length > 1) ctx.error(p, `expected format 'serviceAccount' or 'namespace/serviceAccount', found "${v}" in ${name}`);
    else if (v.length > 320) ctx.error(p, `value cannot exceed 320 characters, found "${v}" in ${name}`);
    else if (v.startsWith("/")) ctx.error(p, `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace "${v}" in ${name}`);
    else if (v.endsWith("/")) ctx.error(p, `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount "${v}" in ${name}`);
  });
}

/** Istio's CheckTrustDomainValues: one wildcard at most, at either end; no "/". */
function checkTrustDomains(values: string[] | undefined, name: string, path: string, ctx: Ctx): void {
  values?.forEach((v, i) => {
    const p = idx(path, i);
    const stars = (v.match(/\*/g) ?? []).length;
    if (v === "") ctx.error(p, `empty value not allowed, found in ${name}`);
    else if (stars > 1) ctx.error(p, `at most one wildcard is allowed, found in ${name}: "${v}"`);
    else if (stars === 1 && v !== "*" && !v.startsWith("*") && !v.endsWith("*"))
      ctx.error(p, `wildcard is only allowed at the start or end, found in ${name}: "${v}"`);
    else if (v.includes("/")) ctx.error(p, `trust domain must not contain '/', found in ${name}: "${v}"`);
  });
}

/** Path templates (`{*}`, `{**}`) are Envoy's uri_template matcher: Istio's CheckValidPathTemplate. */
function checkPathTemplates(values: string[] | undefined, name: string, path: string, ctx: Ctx): void {
  values?.forEach((v, i) => {
    const template = v.includes("{*}") || v.includes("{**}");
    let sawAny = false;
    for (const glob of v.replace(/^\/+|\/+$/g, "").split("/")) {
      if (glob === "{*}" && !sawAny) continue;
      if (glob === "{**}" && !sawAny) {
        sawAny = true;
        continue;
      }
      if ((glob === "{*}" || glob === "{**}") && sawAny) {
        ctx.error(idx(path, i), `invalid or unsupported path ${v}, found in ${name}. {**} is not the last operator`);
        return;
      }
      if (/[{}]/.test(glob)) {
        ctx.error(idx(path, i), `invalid or unsupported path ${v}, found in ${name}. Contains '{' or '}' beyond a supported path template`);
        return;
      }
      if (template && !/^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/.test(glob)) {
        ctx.error(idx(path, i), `invalid or unsupported path ${v}, found in ${name}. Contains segment ${glob} with invalid string literal`);
        return;
      }
    }
  });
}

/** The `from.source` fields (each a list of strings); the CRD schema is made from the same list. */
export const SOURCE_FIELDS = [
  "principals",
  "notPrincipals",
  "requestPrincipals",
  "notRequestPrincipals",
  "namespaces",
  "notNamespaces",
  "serviceAccounts",
  "notServiceAccounts",
  "trustDomains",
  "notTrustDomains",
  "ipBlocks",
  "notIpBlocks",
  "remoteIpBlocks",
  "notRemoteIpBlocks",
] as const;

/** The `to.operation` fields (each a list of strings). */
export const OPERATION_FIELDS = ["hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"] as const;

/** Istio's name for a field in its messages ("NotIpBlocks"). */
const title = (f: string): string => f[0]!.toUpperCase() + f.slice(1);

const source = object<AuthorizationSource>(
  Object.fromEntries(SOURCE_FIELDS.map((f) => [f, strings])) as { [K in keyof AuthorizationSource]-?: Reader<string[]> },
);

const operation = object<AuthorizationOperation>(
  Object.fromEntries(OPERATION_FIELDS.map((f) => [f, strings])) as { [K in keyof AuthorizationOperation]-?: Reader<string[]> },
);

const condition = object<AuthorizationCondition>({ key: str, values: strings, notValues: strings });

const rule = object<AuthorizationRule>({
  from: list(object<{ source: AuthorizationSource }>({ source })),
  to: list(object<{ operation: AuthorizationOperation }>({ operation })),
  when: list(condition),
});

const targetRef = object<PolicyTargetReference>({ group: str, kind: str, name: str, namespace: str });

/** Kinds a targetRef may name (Istio's allowedTargetRefs: group and kind). */
const TARGET_KINDS = ["core/Service", "networking.istio.io/ServiceEntry", "gateway.networking.k8s.io/Gateway", "gateway.networking.k8s.io/GatewayClass"];

function checkTargetRef(ref: PolicyTargetReference, path: string, ctx: Ctx): void {
  if (!ref.name) ctx.error(path, "targetRef name must be set");
  if (ref.namespace) ctx.error(path, "targetRef namespace must not be set; cross namespace referencing is not supported");
  const gk = `${ref.group || "core"}/${ref.kind}`;
  if (!TARGET_KINDS.includes(gk)) ctx.error(path, `targetRef must be to one of ${TARGET_KINDS.join(", ")} but was ${ref.group ?? ""}/${ref.kind}`);
}

const selector = object<NonNullable<AuthorizationPolicySpec["selector"]>>(
  {
    matchLabels: checked(record(str), (labels, path, ctx) => {
      for (const [k, v] of Object.entries(labels)) {
        if (k === "") ctx.error(path, `empty key is not supported in selector: "${k}=${v}"`);
        if (k.includes("*") || v.includes("*")) ctx.error(at(path, k), `wildcard is not supported in selector: "${k}=${v}"`);
      }
    }),
  },
  {
    check: (w, path, ctx) => {
      if (!w.matchLabels || Object.keys(w.matchLabels).length === 0) ctx.warn(path, "workload selector specified without labels");
    },
  },
);

/** The `when` keys Istio knows, and whether mini-pilot can evaluate them. */
const KEY_EXACT = new Set([
  "source.ip",
  "remote.ip",
  "source.namespace",
  "source.principal",
  "source.serviceAccount",
  "source.trustDomain",
  "request.auth.principal",
  "request.auth.audiences",
  "request.auth.presenter",
  "destination.ip",
  "destination.port",
  "connection.sni",
]);

function mapKeyOk(key: string): boolean {
  const open = key.indexOf("[");
  return key.endsWith("]") && open > 0 && open < key.length - 2;
}

/** Istio's ValidateAttribute for one key and its values (or notValues). */
function checkAttribute(key: string, values: string[] | undefined, what: "value" | "notValue", path: string, ctx: Ctx): void {
  if (!values || values.length === 0) return;
  const fail = (why: string): void => ctx.error(path, `invalid \`${what}\` for \`key\` ${key}: ${why}`);
  if (values.some((v) => v === "")) return fail(`empty value not allowed, found in ${key}`);
  if (key.startsWith("request.headers") || key.startsWith("request.auth.claims") || key.startsWith("experimental.")) {
    if (!mapKeyOk(key)) return fail(`bad key (${key}): should have format a[b]`);
    // Stricter than Istio: a header name Envoy's HeaderMatcher refuses would make Envoy reject the whole listener.
    const header = key.startsWith("request.headers[") ? key.slice("request.headers[".length, -1) : undefined;
    const bad = header === undefined ? undefined : checkMatchHeaderName(header);
    if (bad) fail(bad);
    return;
  }
  if (key === "source.ip" || key === "remote.ip" || key === "destination.ip") {
    const bad = values.find((v) => checkIPOrCIDR(v) !== undefined);
    if (bad !== undefined) fail(bad.includes("/") ? `bad CIDR range (${bad})` : `bad IP address (${bad})`);
    return;
  }
  if (key === "destination.port") {
    const bad = values.find((v) => !/^\d+$/.test(v) || Number(v) > 65535);
    if (bad !== undefined) fail(`bad port (${bad})`);
    return;
  }
  if (key === "source.serviceAccount") {
    checkServiceAccounts(values, key, path, ctx);
    return;
  }
  if (key === "source.trustDomain") {
    checkTrustDomains(values, key, path, ctx);
    return;
  }
  if (KEY_EXACT.has(key)) return;
  if (key === "destination.namespace") return fail(`attribute ${key} is replaced by the metadata.namespace`);
  if (key.startsWith("destination.labels")) return fail(`attribute ${key} is replaced by the workload selector`);
  if (key === "destination.name" || key === "destination.user") return fail(`deprecated attribute ${key}: only supported in v1alpha1`);
  fail(`unknown attribute: ${key}`);
}

const has = (v: string[] | undefined): boolean => (v?.length ?? 0) > 0;

function checkSource(src: AuthorizationSource, i: number, path: string, ctx: Ctx): void {
  if (!SOURCE_FIELDS.some((f) => has(src[f]))) ctx.error(path, `\`from.source\` must not be empty, found at rule ${i}`);
  if (
    (has(src.principals) || has(src.notPrincipals) || has(src.namespaces) || has(src.notNamespaces)) &&
    (has(src.serviceAccounts) || has(src.notServiceAccounts))
  )
    ctx.error(path, `cannot set serviceAccounts with namespaces or principals, found at rule ${i}`);
  for (const f of ["ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"] as const) checkIPs(src[f], at(path, f), ctx);
  for (const f of SOURCE_FIELDS) {
    if (f === "serviceAccounts" || f === "notServiceAccounts") checkServiceAccounts(src[f], title(f), at(path, f), ctx);
    else if (f === "trustDomains" || f === "notTrustDomains") checkTrustDomains(src[f], title(f), at(path, f), ctx);
    else checkEmpty(src[f], title(f), at(path, f), ctx);
  }
}

function checkOperation(op: AuthorizationOperation, i: number, path: string, ctx: Ctx): void {
  if (!OPERATION_FIELDS.some((f) => has(op[f]))) ctx.error(path, `\`to.operation\` must not be empty, found at rule ${i}`);
  checkPorts(op.ports, at(path, "ports"), ctx);
  checkPorts(op.notPorts, at(path, "notPorts"), ctx);
  for (const f of OPERATION_FIELDS) checkEmpty(op[f], title(f), at(path, f), ctx);
  checkPathTemplates(op.paths, "Paths", at(path, "paths"), ctx);
  checkPathTemplates(op.notPaths, "NotPaths", at(path, "notPaths"), ctx);
}

/** Identity conditions Istio refuses with CUSTOM (the ext_authz server sees no peer identity). */
function checkCustomRule(r: AuthorizationRule, path: string, ctx: Ctx): void {
  const identity = [
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
    "trustDomains",
    "notTrustDomains",
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
  ] as const;
  r.from?.forEach((f, j) => {
    for (const k of identity)
      if (f.source?.[k] !== undefined)
        ctx.error(at(at(idx(at(path, "from"), j), "source"), k), `From.${title(k)} is currently not supported with CUSTOM action`);
  });
  r.when?.forEach((c, j) => {
    const k = c.key ?? "";
    if (["source.namespace", "source.serviceAccount", "source.trustDomain", "source.principal"].includes(k) || k.startsWith("request.auth."))
      ctx.error(at(idx(at(path, "when"), j), "key"), `${k} is currently not supported with CUSTOM action`);
  });
}

function checkRule(r: AuthorizationRule, i: number, path: string, action: string, ctx: Ctx): void {
  if (action === "CUSTOM") checkCustomRule(r, path, ctx);
  let fromExists = false;
  let toExists = false;
  let tcpInFrom = false;
  let tcpInTo = false;
  r.from?.forEach((f, j) => {
    const p = idx(at(path, "from"), j);
    if (!f.source) {
      ctx.error(p, `\`from.source\` must not be nil, found at rule ${i}`);
      return;
    }
    fromExists = true;
    checkSource(f.source, i, at(p, "source"), ctx);
    const s = f.source;
    if (
      [
        "principals",
        "notPrincipals",
        "ipBlocks",
        "notIpBlocks",
        "namespaces",
        "notNamespaces",
        "remoteIpBlocks",
        "notRemoteIpBlocks",
        "serviceAccounts",
        "notServiceAccounts",
        "trustDomains",
        "notTrustDomains",
      ].some((k) => s[k as keyof AuthorizationSource] !== undefined)
    )
      tcpInFrom = true;
  });
  r.to?.forEach((t, j) => {
    const p = idx(at(path, "to"), j);
    if (!t.operation) {
      ctx.error(p, `\`to.operation\` must not be nil, found at rule ${i}`);
      return;
    }
    toExists = true;
    checkOperation(t.operation, i, at(p, "operation"), ctx);
    if (t.operation.ports !== undefined || t.operation.notPorts !== undefined) tcpInTo = true;
  });
  r.when?.forEach((c, j) => {
    const p = idx(at(path, "when"), j);
    if (!c.key) {
      ctx.error(at(p, "key"), "`key` must not be empty");
      return;
    }
    if (!has(c.values) && !has(c.notValues)) {
      ctx.error(p, `at least one of \`values\` or \`notValues\` must be set for key ${c.key}`);
      return;
    }
    checkAttribute(c.key, c.values, "value", at(p, "values"), ctx);
    checkAttribute(c.key, c.notValues, "notValue", at(p, "notValues"), ctx);
  });
  if (((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo)) && action === "DENY") {
    ctx.warn(
      path,
      "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port",
    );
  }
}

/** What mini-pilot cannot enforce, said once per policy (the rules still translate as istiod does). */
function unsupported(spec: Partial<AuthorizationPolicySpec>, path: string, ctx: Ctx): void {
  if (spec.action === "AUDIT")
    ctx.warn(
      at(path, "action"),
      "AUDIT: translated as istiod does (an RBAC filter with action LOG that marks the requests it matches), but mini-pilot's access log does not filter on the mark, so nothing is audit-logged",
    );
  if (spec.action === "CUSTOM")
    ctx.warn(
      at(path, "action"),
      "CUSTOM is not supported by mini-pilot (no ext_authz providers); as istiod does for a provider it cannot use, requests the rules match are denied",
    );
  const jwt = (spec.rules ?? []).some(
    (r) =>
      r.from?.some((f) => has(f.source?.requestPrincipals) || has(f.source?.notRequestPrincipals)) || r.when?.some((c) => c.key?.startsWith("request.auth.")),
  );
  if (jwt)
    ctx.warn(
      at(path, "rules"),
      "request principals and request.auth.* need JWT validation (RequestAuthentication), which mini-pilot does not support: no request carries a request principal, so these conditions never match",
    );
}

export const authorizationPolicySpec = object<AuthorizationPolicySpec>(
  {
    selector,
    targetRef,
    targetRefs: list(targetRef),
    action: enumOf("ALLOW", "DENY", "AUDIT", "CUSTOM"),
    rules: list(rule),
    provider: object<{ name?: string }>({ name: str }),
  },
  {
    check: (spec, path, ctx) => {
      const set = [spec.selector !== undefined, spec.targetRef !== undefined, has(spec.targetRefs as unknown as string[])].filter(Boolean).length;
      if (set > 1) ctx.error(path, "only one of targetRefs or workloadSelector can be set");
      if (spec.targetRef) checkTargetRef(spec.targetRef, at(path, "targetRef"), ctx);
      spec.targetRefs?.forEach((r, i) => checkTargetRef(r, idx(at(path, "targetRefs"), i), ctx));
      const action = spec.action ?? "ALLOW";
      if (action === "CUSTOM") {
        if (!has(spec.rules as unknown as string[]))
          ctx.error(
            at(path, "rules"),
            "CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
          );
        else if (!spec.provider?.name) ctx.error(at(path, "provider"), "`provider.name` must not be empty");
      } else if (spec.provider !== undefined) {
        ctx.error(at(path, "provider"), `\`provider\` must not be with non CUSTOM action, found ${action}`);
      }
      if (action === "DENY" && !has(spec.rules as unknown as string[]))
        ctx.error(
          at(path, "rules"),
          "DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
        );
      spec.rules?.forEach((r, i) => checkRule(r, i, idx(at(path, "rules"), i), action, ctx));
      if (ctx.errorCount === 0) unsupported(spec, path, ctx);
    },
  },
);
