/**
 * The client side of serve's debug port, shared by `proxy-status` and
 * `proxy-config`: where the server is (`--server URL`), its bearer token
 * (`--debug-token-file`, as serve takes it), GETs with a deadline, and which
 * connected proxy a PROXY argument names. Every failure is one line naming
 * the URL and the reason (the caller's CliError: exit 2).
 */
import { CliError, FlagSpec, ParsedFlags } from "./args";
import { debugToken } from "./debug-port";

export const DEFAULT_SERVER = "http://127.0.0.1:15014";
const TIMEOUT_MS = 5000;

export const SERVER_FLAGS: Record<string, FlagSpec> = {
  server: { type: "string", arg: "URL", default: DEFAULT_SERVER, help: "serve's debug port (its --http-address)" },
  "debug-token-file": {
    type: "string",
    arg: "FILE",
    help: "the bearer token serve's /debug/* wants (the file serve was given; env MINI_PILOT_DEBUG_TOKEN_FILE)",
  },
};

export interface DebugClient {
  base: string;
  /** GET a /debug path as JSON; undefined on 404. */
  get(path: string): Promise<unknown>;
}

export function debugClient(f: ParsedFlags): DebugClient {
  const base = baseUrl(String(f.server), "--server");
  const { token } = debugToken(f);
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return {
    base,
    async get(path: string): Promise<unknown> {
      const url = base + path;
      const res = await request(url, { headers }, "--server", "the mini-pilot debug port");
      if (res.status === 404) return undefined;
      if (res.status === 401) {
        throw new CliError(
          token
            ? `${base}: the debug port refused the token (401); is it the file serve was given?`
            : `${base}: the debug port wants a bearer token (401); give --debug-token-file FILE`,
        );
      }
      if (res.status !== 200) throw new CliError(`${url}: HTTP ${res.status}: ${firstLine(res.body)}`);
      try {
        return JSON.parse(res.body);
      } catch {
        throw new CliError(`${url}: the answer is not JSON; is ${base} a mini-pilot debug port (serve's --http-address)?`);
      }
    },
  };
}

/** "host:port" or a URL; always without a trailing slash. */
export function baseUrl(value: string, flag: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `http://${value}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new CliError(`${flag} "${value}": not a URL (want http://HOST:PORT)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CliError(`${flag} "${value}": want an http:// or https:// URL`);
  return u.origin + u.pathname.replace(/\/+$/, "");
}

/** fetch with a deadline; a connection failure becomes one line naming the flag and the reason. */
export async function request(url: string, init: { headers?: Record<string, string> }, flag: string, what: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    return { status: res.status, body: await res.text() };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const reason = err.name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000}s` : (err.cause?.code ?? err.cause?.message ?? err.message);
    throw new CliError(`${flag} ${new URL(url).origin}: cannot reach ${what}: ${reason}`);
  }
}

function firstLine(s: string): string {
  return s.split("\n", 1)[0]!.slice(0, 200);
}

/** One /debug/syncz entry (a stream), as serve writes it. */
export interface SyncEntry {
  proxy: string | null;
  stream: string;
  mode?: string;
  server?: string;
  cluster?: string | null;
  clusterId?: string | null;
  istioVersion?: string | null;
  connectedAt: string;
  types: Record<string, { status: string; sentVersion: string | null; ackedVersion: string | null; lastError: { message: string; at: string } | null }>;
}

export async function syncz(client: DebugClient): Promise<SyncEntry[]> {
  const v = await client.get("/debug/syncz");
  if (!Array.isArray(v)) throw new CliError(`${client.base}/debug/syncz: not a list of streams; is ${client.base} a mini-pilot debug port?`);
  return v as SyncEntry[];
}

/** "sidecar~10.1.2.3~pod.ns~ns.svc.cluster.local" -> { type, name: "pod.ns" }; other ids are their own name. */
export function proxyName(id: string): { type: string; name: string } {
  const parts = id.split("~");
  if (parts.length === 4) return { type: parts[0]!, name: parts[2]! };
  return { type: "-", name: id };
}

/**
 * The connected node id a PROXY argument means: the node id itself, or
 * `pod.namespace` as istioctl takes it. Unknown or ambiguous: one line, the
 * connected proxies named when there are few.
 */
export function resolveProxy(arg: string, entries: SyncEntry[]): string {
  const ids = [...new Set(entries.map((e) => e.proxy).filter((p): p is string => p !== null))].sort();
  if (ids.includes(arg)) return arg;
  const byName = ids.filter((id) => proxyName(id).name === arg);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) throw new CliError(`proxy "${arg}" is ambiguous: ${byName.join(", ")}; give the node id`);
  const known =
    ids.length === 0
      ? "no proxy is connected"
      : ids.length <= 5
        ? `connected: ${ids.map((id) => proxyName(id).name).join(", ")}`
        : `${ids.length} are connected`;
  throw new CliError(`no connected proxy "${arg}" (a node id or pod.namespace; ${known})`);
}
