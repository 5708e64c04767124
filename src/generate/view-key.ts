/**
 * Which proxies can share one generation, derived from what generation
 * actually asked of the proxy (nothing to keep in step with the generators).
 *
 * A generation runs against a recording view of the proxy. Every answer it
 * gets is noted in order: a field read (kind, namespace, ...), a selector
 * evaluated against the labels (`labelsMatch`, with the answer only, so a
 * thousand pods that no selector tells apart stay alike), whether there are
 * labels at all, and, as a conservative fallback, single label values or the
 * whole label set when code reads labels some other way.
 *
 * Generation is deterministic: given the mesh and the answers so far, the
 * next question is always the same. So the recorded questions form a
 * decision tree per mesh. A proxy is walked down the tree by asking it each
 * node's question; reaching a leaf means it would get exactly the recorded
 * generation's output, which is then reused. A proxy that leaves the tree
 * (an answer no earlier proxy gave) is generated and its path added.
 *
 * The tree belongs to one mesh (an immutable snapshot of the config): build a
 * new ViewIndex for every mesh.
 */
import type { ProxyView } from "../model/proxy";
import { LABEL_QUESTIONS, LabelQuestions, hasLabels, labelsMatch } from "../model/mesh-hosts";

/** One thing generation asked about a proxy; `ask` gets the answer from any proxy. */
interface Question {
  readonly id: string;
  ask(proxy: ProxyView): string;
}

interface Fact {
  question: Question;
  answer: string;
}

function sortedEntries(r: Record<string, string>): [string, string][] {
  return Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Questions are made once per field, label key and selector object: generation asks the same ones over and over. */
function memo<K, Q>(cache: { get(k: K): Q | undefined; set(k: K, q: Q): unknown }, make: (k: K) => Q): (k: K) => Q {
  return (k) => {
    let q = cache.get(k);
    if (!q) cache.set(k, (q = make(k)));
    return q;
  };
}

const fieldQuestion = memo(new Map<string, Question>(), (name) => ({
  id: `field ${name}`,
  ask: (p) => JSON.stringify((p as unknown as Record<string, unknown>)[name]) ?? "undefined",
}));

/** Keyed by the selector object (the mesh's own, immutable); equal selectors get equal ids. */
const selectorQuestion = memo(new WeakMap<Record<string, string>, Question>(), (selector) => ({
  id: `selector ${JSON.stringify(sortedEntries(selector))}`,
  ask: (p) => (labelsMatch(selector, p.labels) ? "yes" : "no"),
}));

const labelQuestion = memo(new Map<string, Question>(), (key) => ({
  id: `label ${key}`,
  ask: (p) => JSON.stringify(Object.prototype.hasOwnProperty.call(p.labels, key) ? p.labels[key] : null),
}));

const HAS_LABELS: Question = { id: "has labels", ask: (p) => (hasLabels(p.labels) ? "yes" : "no") };
const ALL_LABELS: Question = { id: "all labels", ask: (p) => JSON.stringify(sortedEntries(p.labels)) };
const ALL_FIELDS: Question = {
  id: "all fields",
  ask: (p) =>
    JSON.stringify(
      Object.keys(p)
        .sort()
        .map((k) => [k, (p as unknown as Record<string, unknown>)[k]]),
    ),
};

/**
 * The proxy as generation sees it, noting every question asked (first time
 * only) with the real proxy's answer. Recording stops when `close` is called.
 */
function recordingView(proxy: ProxyView): { view: ProxyView; facts: Fact[]; close(): void } {
  const facts: Fact[] = [];
  const asked = new Set<string>();
  let open = true;
  const note = (q: Question) => {
    if (!open || asked.has(q.id)) return;
    asked.add(q.id);
    facts.push({ question: q, answer: q.ask(proxy) });
  };
  const questions: LabelQuestions = {
    matches(selector) {
      note(selectorQuestion(selector));
      return labelsMatch(selector, proxy.labels);
    },
    nonEmpty() {
      note(HAS_LABELS);
      return hasLabels(proxy.labels);
    },
  };
  const labels = new Proxy(proxy.labels, {
    get(target, key, receiver) {
      if (key === LABEL_QUESTIONS) return questions;
      if (typeof key === "string") note(labelQuestion(key));
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") note(labelQuestion(key));
      return Reflect.has(target, key);
    },
    getOwnPropertyDescriptor(target, key) {
      if (typeof key === "string") note(labelQuestion(key));
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    ownKeys(target) {
      note(ALL_LABELS);
      return Reflect.ownKeys(target);
    },
  });
  const view = new Proxy(proxy, {
    get(target, key, receiver) {
      if (key === "labels") return labels;
      if (typeof key === "string") note(fieldQuestion(key));
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") note(fieldQuestion(key));
      return Reflect.has(target, key);
    },
    getOwnPropertyDescriptor(target, key) {
      if (typeof key === "string" && key !== "labels") note(fieldQuestion(key));
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    ownKeys(target) {
      note(ALL_FIELDS);
      return Reflect.ownKeys(target);
    },
  });
  return { view, facts, close: () => (open = false) };
}

interface Node<T> {
  /** The next question generation asked on this path; unset at a leaf. */
  question?: Question;
  next?: Map<string, Node<T>>;
  leaf?: { value: T };
}

export class ViewIndex<T> {
  private readonly root: Node<T> = {};
  private leaves = 0;
  /** Recorded paths that contradicted the tree (generation was not deterministic); never shared. */
  conflicts = 0;

  /** How many distinct views (generations) the index holds. */
  get size(): number {
    return this.leaves;
  }

  /** The recorded value for a proxy that answers every question on some recorded path alike. */
  find(proxy: ProxyView): { value: T } | undefined {
    let node: Node<T> | undefined = this.root;
    while (node) {
      if (node.leaf) return node.leaf;
      if (!node.question) return undefined;
      node = node.next?.get(node.question.ask(proxy));
    }
    return undefined;
  }

  /**
   * The value for `proxy`: a recorded one when a proxy that answered alike was
   * done already, else `generate` run on a recording view, then kept. Throws
   * whatever `generate` throws (nothing is kept then).
   */
  get(proxy: ProxyView, generate: (view: ProxyView) => T): T {
    const hit = this.find(proxy);
    if (hit) return hit.value;
    const rec = recordingView(proxy);
    let value: T;
    try {
      value = generate(rec.view);
    } finally {
      rec.close();
    }
    this.insert(rec.facts, value);
    return value;
  }

  private insert(facts: Fact[], value: T): void {
    let node = this.root;
    for (const { question, answer } of facts) {
      if (node.leaf || (node.question && node.question.id !== question.id)) {
        this.conflicts++;
        return;
      }
      node.question ??= question;
      node.next ??= new Map();
      let child = node.next.get(answer);
      if (!child) node.next.set(answer, (child = {}));
      node = child;
    }
    if (node.question || node.leaf) {
      this.conflicts++;
      return;
    }
    node.leaf = { value };
    this.leaves++;
  }
}
