/**
 * PeerAuthentication spec (security.istio.io): the mTLS mode a workload
 * accepts, mesh-wide, per namespace, per workload selector and per port.
 * Follows Istio's ValidatePeerAuthentication and validateWorkloadSelector.
 */
import type { PeerAuthenticationMode, PeerAuthenticationSpec } from "../types";
import { at } from "./ctx";
import { checked, enumOf, object, record, str } from "./read";

const mode = enumOf<PeerAuthenticationMode>("UNSET", "DISABLE", "PERMISSIVE", "STRICT");
const mutualTls = object<{ mode?: PeerAuthenticationMode }>({ mode });

const selector = object<NonNullable<PeerAuthenticationSpec["selector"]>>(
  {
    matchLabels: checked(record(str), (labels, path, ctx) => {
      for (const [k, v] of Object.entries(labels)) {
        if (k === "") ctx.error(path, `empty key is not supported in selector: "${k}=${v}"`);
        if (k.includes("*") || v.includes("*")) ctx.error(at(path, k), `wildcard is not supported in selector: "${k}=${v}"`);
      }
    }),
  },
  {
    check: (s, path, ctx) => {
      if (!s.matchLabels || Object.keys(s.matchLabels).length === 0) ctx.warn(path, "workload selector specified without labels");
    },
  },
);

export const peerAuthenticationSpec = object<PeerAuthenticationSpec>(
  { selector, mtls: mutualTls, portLevelMtls: record(mutualTls) },
  {
    check: (spec, path, ctx) => {
      const emptySelector = !spec.selector?.matchLabels || Object.keys(spec.selector.matchLabels).length === 0;
      const ports = spec.portLevelMtls;
      if (ports === undefined) return;
      const where = at(path, "portLevelMtls");
      if (emptySelector && Object.keys(ports).length > 0) ctx.error(where, "mesh/namespace peer authentication cannot have port level mTLS");
      if (Object.keys(ports).length === 0) ctx.error(where, "port level mTLS, if defined, must have at least one element");
      for (const key of Object.keys(ports)) {
        const n = Number(key);
        if (!/^[0-9]+$/.test(key) || n <= 0 || n > 65535) ctx.error(at(where, key), "port must be in range 1..65535");
      }
    },
  },
);
