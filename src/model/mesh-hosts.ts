/**
 * Host names as Istio treats them: short names expand against the object's
 * namespace, wildcards match suffixes, exportTo decides visibility.
 */

/**
 * Istio's ResolveShortnameToFQDN: a name without a dot becomes
 * `<name>.<namespace>.svc.<suffix>`; anything with a dot (including
 * "reviews.default") is taken as written, as are "*" and IP addresses.
 */
export function resolveHost(host: string, namespace: string, domainSuffix: string): string {
  if (host === "*" || host.includes(".") || host.includes(":")) return host;
  return `${host}.${namespace}.svc.${domainSuffix}`;
}

/** Does a (possibly wildcard) rule host match a concrete or wildcard service host? */
export function hostMatches(ruleHost: string, serviceHost: string): boolean {
  if (ruleHost === serviceHost || ruleHost === "*") return true;
  if (ruleHost.startsWith("*.")) {
    const suffix = ruleHost.slice(1); // ".example.com"
    if (serviceHost.startsWith("*.")) return serviceHost.slice(1).endsWith(suffix);
    return serviceHost.endsWith(suffix);
  }
  return false;
}

/** How specific a host is: exact beats wildcard, longer wildcard beats shorter. */
export function hostSpecificity(host: string): number {
  return host.startsWith("*") ? host.length : 1_000_000 + host.length;
}

/** exportTo as written -> normalised ("." becomes the own namespace; default "*"). */
export function normaliseExportTo(exportTo: string[] | undefined, ownNamespace: string): string[] {
  if (!exportTo || exportTo.length === 0) return ["*"];
  return [...new Set(exportTo.map((e) => (e === "." ? ownNamespace : e)))].sort();
}

/** "~" exports to nobody; "*" to everybody; otherwise listed namespaces. */
export function visibleTo(exportTo: readonly string[], namespace: string): boolean {
  return exportTo.includes("*") || exportTo.includes(namespace);
}

/** creationTimestamp, then name, then namespace: the order Istio uses for conflicts. */
export function olderFirst(
  a: { creationTimestamp?: string; name: string; namespace: string },
  b: { creationTimestamp?: string; name: string; namespace: string },
): number {
  const ta = a.creationTimestamp ? Date.parse(a.creationTimestamp) : 0;
  const tb = b.creationTimestamp ? Date.parse(b.creationTimestamp) : 0;
  if (ta !== tb) return (Number.isNaN(ta) ? 0 : ta) - (Number.isNaN(tb) ? 0 : tb);
  return cmp(a.name, b.name) || cmp(a.namespace, b.namespace);
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A label set may answer selector questions itself: while a proxy's config is
 * generated, its labels are a recording view (src/generate/view-key.ts) that
 * notes each selector evaluated against them and the answer, so proxies that
 * answer alike can share the generation. Every selector check on a proxy's
 * labels goes through labelsMatch or hasLabels.
 */
export const LABEL_QUESTIONS = Symbol("label questions");

export interface LabelQuestions {
  matches(selector: Record<string, string>): boolean;
  nonEmpty(): boolean;
}

function questionsOf(labels: Record<string, string>): LabelQuestions | undefined {
  return (labels as { [LABEL_QUESTIONS]?: LabelQuestions })[LABEL_QUESTIONS];
}

/** Every label in `selector` is present with the same value in `labels`. */
export function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  const questions = questionsOf(labels);
  if (questions) return questions.matches(selector);
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** Whether there is any label at all (workloads without labels are selected by nothing). */
export function hasLabels(labels: Record<string, string>): boolean {
  const questions = questionsOf(labels);
  if (questions) return questions.nonEmpty();
  return Object.keys(labels).length > 0;
}
