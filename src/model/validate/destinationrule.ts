/**
 * DestinationRule spec: host, subsets and traffic policies (traffic policies
 * are in trafficpolicy.ts). Follows Istio's ValidateDestinationRule.
 */
import type { DestinationRuleSpec, Subset } from "../types";
import { at, idx } from "./ctx";
import { checkExportTo, labelMap } from "./common";
import { checkWildcardDomain, isIstioLabel } from "./names";
import { checked, list, object, record, str } from "./read";
import { trafficPolicy } from "./trafficpolicy";

const subset = object<Subset>(
  { name: str, labels: labelMap, trafficPolicy },
  {
    check: (s, path, ctx) => {
      if (!s.name) ctx.error(at(path, "name"), "subset name cannot be empty");
      else if (!isIstioLabel(s.name)) ctx.error(at(path, "name"), `subset name is invalid: ${s.name}`);
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
  { host: str, trafficPolicy, subsets: list(subset), exportTo: list(str), workloadSelector },
  {
    check: (spec, path, ctx) => {
      const e = checkWildcardDomain(spec.host ?? "");
      if (e) ctx.error(at(path, "host"), e);
      // A rule for selected workloads only applies in its own namespace.
      if (spec.exportTo) checkExportTo(spec.exportTo, at(path, "exportTo"), ctx, { workloadSelector: spec.workloadSelector !== undefined });
      const seen = new Set<string>();
      spec.subsets?.forEach((s, i) => {
        if (s.name && seen.has(s.name)) ctx.error(at(idx(at(path, "subsets"), i), "name"), `duplicate subset names: ${s.name}`);
        if (s.name) seen.add(s.name);
      });
    },
  },
);
