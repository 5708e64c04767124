/**
 * The Kubernetes downward API's file format for labels and annotations:
 * one `key="value"` per line, the value quoted the way Go's `%q` quotes it
 * (kubelet writes it with Go). Istio mounts pod labels at /etc/istio/pod/labels.
 */

export class DownwardApiError extends Error {}

/** Parse a downward-API labels/annotations file; blank lines are skipped. */
export function parseDownwardApi(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new DownwardApiError(`line ${i + 1}: expected key="value", got ${JSON.stringify(line)}`);
    const key = line.slice(0, eq);
    try {
      out[key] = unquoteGo(line.slice(eq + 1));
    } catch (e) {
      throw new DownwardApiError(`line ${i + 1} (${key}): ${(e as Error).message}`);
    }
  });
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", '"': '"', "'": "'" };

/** Go's strconv.Unquote for a double-quoted string: \n, \xHH, \uHHHH, \UHHHHHHHH, \NNN (octal bytes). */
export function unquoteGo(s: string): string {
  if (s.length < 2 || !s.startsWith('"') || !s.endsWith('"')) throw new Error(`expected a double-quoted value, got ${s}`);
  const body = s.slice(1, -1);
  const bytes: number[] = [];
  const pushText = (t: string): void => {
    for (const b of Buffer.from(t, "utf8")) bytes.push(b);
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '"') throw new Error("unescaped quote inside the value");
    if (c !== "\\") {
      pushText(c);
      continue;
    }
    const e = body[++i];
    if (e === undefined) throw new Error("value ends in a lone backslash");
    if (SIMPLE_ESCAPES[e] !== undefined) pushText(SIMPLE_ESCAPES[e]);
    else if (e === "x") {
      bytes.push(hex(body, i + 1, 2));
      i += 2;
    } else if (e === "u") {
      pushText(String.fromCodePoint(hex(body, i + 1, 4)));
      i += 4;
    } else if (e === "U") {
      pushText(String.fromCodePoint(hex(body, i + 1, 8)));
      i += 8;
    } else if (/[0-7]/.test(e)) {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct)) throw new Error(`bad octal escape \\${oct}`);
      bytes.push(parseInt(oct, 8));
      i += 2;
    } else throw new Error(`unknown escape \\${e}`);
  }
  return Buffer.from(bytes).toString("utf8");
}

function hex(s: string, at: number, n: number): number {
  const digits = s.slice(at, at + n);
  if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(digits)) throw new Error(`bad escape, expected ${n} hex digits at ${JSON.stringify(digits)}`);
  return parseInt(digits, 16);
}
