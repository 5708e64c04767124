/**
 * DestinationRule spec: host, subsets and traffic policies (traffic policies
 * are in trafficpolicy.ts). Follows Istio's ValidateDestinationRule.
 */
import type { DestinationRuleSpec, Subset } from "../types";
import { at, idx } from "./ctx";
import { exportTo, labelMap } from "./common";
import { checkWildcardDomain, isDNS1123Label } from "./names";
import { checked, list, object, record, str } from "./read";
import { trafficPolicy } from "./trafficpolicy";

const subset = object<Subset>(
  { name: str, labels: labelMap, trafficPolicy },
  {
    check: (s, path, ctx) => {
      if (!s.name) ctx.error(at(path, "name"), "subset name cannot be empty");
      else if (!isDNS1123Label(s.name)) ctx.error(at(path, "name"), `subset name is invalid: ${s.name}`);
    },
  },
);

const workloadSelector = object<NonNullable<DestinationRuleSpec["workloadSelector"]>>(
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

export const destinationRuleSpec = object<DestinationRuleSpec>(
  { host: str, trafficPolicy, subsets: list(subset), exportTo: exportTo(false), workloadSelector },
  {
    check: (spec, path, ctx) => {
      if (!spec.host) ctx.error(at(path, "host"), "host is required");
      else {
        const e = checkWildcardDomain(spec.host);
        if (e) ctx.error(at(path, "host"), e);
      }
      const seen = new Set<string>();
      spec.subsets?.forEach((s, i) => {
        if (s.name && seen.has(s.name)) ctx.error(at(idx(at(path, "subsets"), i), "name"), `duplicate subset names: ${s.name}`);
        if (s.name) seen.add(s.name);
      });
    },
  },
);
