/**
 * Metric names in a PromQL expression, by a tokenizer that knows PromQL's
 * lexical structure: strings, label matchers `{...}`, ranges and offsets
 * `[5m]`, numbers, function calls `f(`, grouping clauses `by (a, b)`, and
 * keywords. Every identifier left is a metric selector's name. Throws on
 * unbalanced brackets or an unknown function, so a typo in a query fails the
 * test rather than hiding.
 */
const FUNCTIONS = new Set([
  "abs",
  "absent",
  "absent_over_time",
  "avg_over_time",
  "ceil",
  "changes",
  "clamp",
  "clamp_max",
  "clamp_min",
  "count_over_time",
  "day_of_month",
  "day_of_week",
  "delta",
  "deriv",
  "exp",
  "floor",
  "histogram_quantile",
  "holt_winters",
  "hour",
  "idelta",
  "increase",
  "irate",
  "label_join",
  "label_replace",
  "ln",
  "log2",
  "log10",
  "max_over_time",
  "min_over_time",
  "minute",
  "month",
  "predict_linear",
  "quantile_over_time",
  "rate",
  "resets",
  "round",
  "scalar",
  "sort",
  "sort_desc",
  "sqrt",
  "stddev_over_time",
  "stdvar_over_time",
  "sum_over_time",
  "time",
  "timestamp",
  "vector",
  "year",
  "last_over_time",
  // aggregation operators
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
]);
const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"]);

export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  let i = 0;
  let depth = 0;
  /** After by/without/on/ignoring/group_*: the next (...) holds label names. */
  let labelList = false;
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === "`") {
      i = skipString(expr, i);
    } else if (c === "{") {
      i = skipTo(expr, i, "}");
    } else if (c === "[") {
      i = skipTo(expr, i, "]");
    } else if (c === "(") {
      if (labelList) {
        i = skipTo(expr, i, ")");
        labelList = false;
      } else {
        depth++;
        i++;
      }
    } else if (c === ")") {
      if (--depth < 0) throw new Error(`unbalanced ")" at ${i} in ${expr}`);
      i++;
    } else if (/[0-9.]/.test(c)) {
      const m = /^[0-9.]+(e[+-]?[0-9]+)?[smhdwy]?/i.exec(expr.slice(i))!;
      i += m[0].length;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const word = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))![0];
      i += word.length;
      const rest = expr.slice(i).trimStart();
      if (KEYWORDS.has(word.toLowerCase())) {
        labelList = ["by", "without", "on", "ignoring", "group_left", "group_right"].includes(word.toLowerCase());
      } else if (rest.startsWith("(")) {
        if (!FUNCTIONS.has(word)) throw new Error(`unknown PromQL function "${word}" in ${expr}`);
      } else {
        names.add(word);
      }
    } else if ("+-*/%^=!<>,".includes(c)) {
      i++;
    } else {
      throw new Error(`unexpected "${c}" at ${i} in ${expr}`);
    }
  }
  if (depth !== 0) throw new Error(`unbalanced "(" in ${expr}`);
  return [...names].sort();
}

function skipString(s: string, i: number): number {
  const q = s[i]!;
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === "\\" && q !== "`") j++;
    else if (s[j] === q) return j + 1;
  }
  throw new Error(`unterminated string in ${s}`);
}

function skipTo(s: string, i: number, close: string): number {
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === '"' || s[j] === "'") j = skipString(s, j) - 1;
    else if (s[j] === close) return j + 1;
  }
  throw new Error(`no "${close}" after ${i} in ${s}`);
}

/** Series names with at least one sample in a Prometheus text exposition. */
export function sampledNames(exposition: string): Set<string> {
  const out = new Set<string>();
  for (const line of exposition.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}

/** `# TYPE name type` lines. */
export function metricTypes(exposition: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}
