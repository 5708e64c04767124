/**
 * Does reading big input stall serving? `mini-pilot serve --config-dir` runs as
 * a user runs it; while it reads (1) one ~50 MB file of 100,000 objects and
 * (2) a flood of 5,000 small files written at once, this probes /healthz back
 * to back (each followed by /ready) and samples the server's RSS. Reported: /healthz and /ready latency (p50, p99,
 * max), time until the objects are served, RSS peak, RSS once loaded and RSS
 * 10 s and 30 s after the big file is deleted again.
 *
 * Usage: node dist/bench/big-file-bench.js [--objects N] [--kind service|invalid-vs]
 *          [--flood N] [--cli PATH/TO/main.js] [--no-limits-flags] [--node-args "ARGS"] [--serve-stdout FILE]
 * --cli runs another build (e.g. an older checkout) for before/after numbers;
 * --no-limits-flags leaves out --max-file-size/--max-objects-per-file for builds without them;
 * --node-args passes node options to serve (e.g. "--cpu-prof --cpu-prof-dir=D --trace-gc
 * --require dist/bench/turn-log.js" with MP_TURN_LOG=FILE set: see turn-profile.ts), and
 * --serve-stdout keeps serve's standard output (where --trace-gc writes) in FILE.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, ChildProcess } from "node:child_process";

interface Options {
  objects: number;
  kind: "service" | "invalid-vs";
  flood: number;
  cli: string;
  limitsFlags: boolean;
  nodeArgs: string[];
  serveStdout?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    objects: 100_000,
    kind: "service",
    flood: 5000,
    cli: path.join(__dirname, "..", "src", "cli", "main.js"),
    limitsFlags: true,
    nodeArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--objects") o.objects = Number(argv[++i]);
    else if (a === "--kind") o.kind = argv[++i] as Options["kind"];
    else if (a === "--flood") o.flood = Number(argv[++i]);
    else if (a === "--cli") o.cli = path.resolve(argv[++i]!);
    else if (a === "--no-limits-flags") o.limitsFlags = false;
    else if (a === "--node-args") o.nodeArgs = argv[++i]!.split(" ").filter(Boolean);
    else if (a === "--serve-stdout") o.serveStdout = path.resolve(argv[++i]!);
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

function objectYaml(kind: Options["kind"], i: number): string {
  if (kind === "service") {
    return `apiVersion: v1\nkind: Service\nmetadata:\n  name: big-${i}\n  namespace: ns-${i % 100}\n  labels: {app: big-${i}, team: team-${i % 13}, tier: backend}\n  annotations: {owner: "someone@example.com", note: "generated for the big-file benchmark; this annotation pads each object to about five hundred bytes of YAML"}\nspec:\n  clusterIP: 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}\n  selector: {app: big-${i}, tier: backend}\n  ports:\n    - {name: http, port: 80, targetPort: 8080}\n    - {name: grpc, port: 9090, targetPort: 9090}\n`;
  }
  // Invalid: a negative weight, so every object is read, validated and rejected.
  return `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: bad-${i}\n  namespace: ns-${i % 100}\n  labels: {app: bad-${i}, team: team-${i % 13}}\nspec:\n  hosts: [bad-${i}.ns-${i % 100}.svc.cluster.local]\n  http:\n    - match: [{uri: {prefix: /api/v1/items/${i}}}, {headers: {x-tenant: {exact: tenant-${i}}}}]\n      route:\n        - destination: {host: bad-${i}, subset: v1}\n          weight: -10\n        - destination: {host: bad-${i}, subset: v2}\n          weight: 110\n`;
}

interface Serve {
  child: ChildProcess;
  httpPort: number;
  stop(): Promise<void>;
}

function startServe(cli: string, dir: string, extra: string[], nodeArgs: string[], stdoutFile?: string): Promise<Serve> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, cli, "serve", "--config-dir", dir, "--xds-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0", "--log-level", "warn", ...extra],
    {
      env: { ...process.env, LOG_FORMAT: "json" },
      stdio: ["ignore", stdoutFile ? fs.openSync(stdoutFile, "w") : "ignore", "pipe"],
    },
  );
  return new Promise((resolve, reject) => {
    let buf = "";
    // warn level hides the "serving" line: find the port from /proc instead.
    const timer = setInterval(() => {
      const port = listeningPorts(child.pid!).find((p) => p.host === "127.0.0.1");
      if (!port) return;
      // Two ports are bound (xDS and HTTP): the HTTP one answers /healthz.
      void (async () => {
        for (const p of listeningPorts(child.pid!)) {
          try {
            const r = await fetch(`http://127.0.0.1:${p.port}/healthz`);
            if (r.ok) {
              clearInterval(timer);
              resolve({ child, httpPort: p.port, stop: () => new Promise((res) => (child.once("exit", () => res()), child.kill("SIGTERM"))) });
              return;
            }
          } catch {
            // the gRPC port
          }
        }
      })();
    }, 100);
    child.stderr!.on("data", (d: Buffer) => (buf += d.toString()));
    child.once("exit", (code) => {
      clearInterval(timer);
      reject(new Error(`serve exited ${code}: ${buf.slice(-2000)}`));
    });
  });
}

/** Listening TCP ports of a process, from /proc (Linux). */
function listeningPorts(pid: number): { host: string; port: number }[] {
  const inodes = new Set<string>();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    }
  } catch {
    return [];
  }
  const out: { host: string; port: number }[] = [];
  for (const line of fs.readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== "0A" || !inodes.has(f[9]!)) continue;
    const [hexHost, hexPort] = f[1]!.split(":");
    const host = hexHost === "0100007F" ? "127.0.0.1" : hexHost!;
    out.push({ host, port: parseInt(hexPort!, 16) });
  }
  return out;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Probe {
  latencies: number[];
  /** /ready, probed right after each /healthz (its answer does not matter here, only how long it took). */
  ready: number[];
  errors: number;
  rssPeak: number;
  stop(): Promise<void>;
}

/** /healthz back to back (10 ms apart) and RSS every 100 ms, until stopped. */
function probe(port: number, pid: number): Probe {
  const p: Probe = { latencies: [], ready: [], errors: 0, rssPeak: 0, stop: async () => undefined };
  let running = true;
  const rssTimer = setInterval(() => (p.rssPeak = Math.max(p.rssPeak, rssMiB(pid))), 100);
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      try {
        await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.arrayBuffer());
      } catch {
        p.errors++; // e.g. a kept-alive connection reset by a server that froze past its keep-alive timeout
      }
      p.latencies.push(performance.now() - t);
      const r0 = performance.now();
      try {
        await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.arrayBuffer());
      } catch {
        p.errors++;
      }
      p.ready.push(performance.now() - r0);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  p.stop = async () => {
    running = false;
    await loop;
    clearInterval(rssTimer);
  };
  return p;
}

/**
 * The machine's own stalls: a bare node process (nothing but a 2 ms timer)
 * running alongside, counting its event-loop turns over 100 ms. On 2 shared
 * cores under load the scheduler alone produces such turns; this says how many
 * of serve's are the machine's, not serve's.
 */
function bareProcessProbe(): { stop(): Promise<string> } {
  const script =
    "let last=performance.now(),max=0,over=0,n=0;setInterval(()=>{const t=performance.now(),d=t-last;last=t;n++;if(d>max)max=d;if(d>100)over++},2);" +
    "process.on('SIGTERM',()=>{process.stdout.write(JSON.stringify({max,over,n}));process.exit(0)})";
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  return {
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => {
          const r = JSON.parse(out || "{}") as { max?: number; over?: number };
          resolve(`a bare node process alongside: longest turn ${(r.max ?? NaN).toFixed(1)} ms, ${r.over ?? "?"} turn(s) over 100 ms`);
        });
        child.kill("SIGTERM");
      }),
  };
}

/** The server's V8 heap in use, from its /metrics: tells retained objects apart from pages not yet given back. */
async function heapUsedMiB(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^mini_pilot_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return m ? Number(m[1]) / 1024 / 1024 : NaN;
}

async function configz(port: number): Promise<{ objects: number; diagnostics: string[] }> {
  return (await (await fetch(`http://127.0.0.1:${port}/debug/configz`)).json()) as { objects: number; diagnostics: string[] };
}

async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (!(await cond().catch(() => false))) {
    if (performance.now() - start > timeoutMs) return NaN;
    await new Promise((r) => setTimeout(r, 250));
  }
  return performance.now() - start;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

function summary(p: Probe): string {
  const q = (xs: number[]) => `n=${xs.length} p50=${quantile(xs, 0.5).toFixed(1)}ms p99=${quantile(xs, 0.99).toFixed(1)}ms max=${Math.max(...xs).toFixed(1)}ms`;
  return `/healthz ${q(p.latencies)}; /ready ${q(p.ready)}${p.errors ? ` (${p.errors} failed)` : ""}; RSS peak ${p.rssPeak.toFixed(0)} MiB`;
}

/** One big file, written elsewhere and renamed in, so it appears whole; then deleted again. */
async function bigFile(o: Options, root: string, dir: string, serve: Serve, base: number): Promise<void> {
  const pid = serve.child.pid!;
  const staged = path.join(root, "big.yaml");
  const out = fs.openSync(staged, "w");
  for (let i = 0; i < o.objects; i++) fs.writeSync(out, (i ? "---\n" : "") + objectYaml(o.kind, i));
  fs.closeSync(out);
  const size = fs.statSync(staged).size;
  const p1 = probe(serve.httpPort, pid);
  const bare = bareProcessProbe();
  await new Promise((r) => setTimeout(r, 300));
  fs.renameSync(staged, path.join(dir, "big.yaml"));
  const loadedMs = await waitUntil(async () => {
    const c = await configz(serve.httpPort);
    return o.kind === "service" ? c.objects >= base + o.objects : c.diagnostics.some((d) => d.includes("big.yaml"));
  }, 600_000);
  await new Promise((r) => setTimeout(r, 1000));
  await p1.stop();
  const bareSummary = await bare.stop();
  console.log(
    `big file: ${(size / 1e6).toFixed(1)} MB, ${o.objects} ${o.kind} objects; served after ${(loadedMs / 1000).toFixed(1)} s; load average ${os.loadavg()[0]!.toFixed(1)}`,
  );
  console.log(`  ${bareSummary}`);
  console.log(`  ${summary(p1)}; once loaded: RSS ${rssMiB(pid).toFixed(0)} MiB, heap used ${(await heapUsedMiB(serve.httpPort)).toFixed(0)} MiB`);
  fs.rmSync(path.join(dir, "big.yaml"));
  await waitUntil(async () => (await configz(serve.httpPort)).objects <= base, 600_000);
  await new Promise((r) => setTimeout(r, 10_000));
  console.log(`  10 s after the file is deleted: RSS ${rssMiB(pid).toFixed(0)} MiB, heap used ${(await heapUsedMiB(serve.httpPort)).toFixed(0)} MiB`);
  // On a loaded machine the push of the big mesh may still be running at 10 s; the memory comes back after it.
  await new Promise((r) => setTimeout(r, 20_000));
  console.log(`  30 s after the file is deleted: RSS ${rssMiB(pid).toFixed(0)} MiB, heap used ${(await heapUsedMiB(serve.httpPort)).toFixed(0)} MiB`);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "mp-bigfile-"));
  const dir = path.join(root, "config");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "seed.yaml"), objectYaml("service", -1).replace(/big--1/g, "seed"));
  const extra = o.limitsFlags ? ["--max-file-size", "128Mi", "--max-objects-per-file", String(o.objects + 1)] : [];
  const serve = await startServe(o.cli, dir, extra, o.nodeArgs, o.serveStdout);
  const pid = serve.child.pid!;
  try {
    console.log(`cli ${o.cli}`);
    console.log(`idle: RSS ${rssMiB(pid).toFixed(0)} MiB, heap used ${(await heapUsedMiB(serve.httpPort)).toFixed(0)} MiB`);
    const base = (await configz(serve.httpPort)).objects;
    if (o.objects > 0) await bigFile(o, root, dir, serve, base);
    // 2. A flood of small files.
    if (o.flood > 0) {
      const p2 = probe(serve.httpPort, pid);
      await new Promise((r) => setTimeout(r, 300));
      const flood = path.join(dir, "flood");
      fs.mkdirSync(flood);
      const t0 = performance.now();
      for (let i = 0; i < o.flood; i++) fs.writeFileSync(path.join(flood, `f${i}.yaml`), objectYaml("service", 500_000 + i));
      const wroteMs = performance.now() - t0;
      const floodMs = await waitUntil(async () => (await configz(serve.httpPort)).objects >= base + o.flood, 600_000);
      await new Promise((r) => setTimeout(r, 500));
      await p2.stop();
      console.log(`flood: ${o.flood} files written in ${(wroteMs / 1000).toFixed(1)} s; all served ${(floodMs / 1000).toFixed(1)} s after the last write`);
      console.log(`  ${summary(p2)}`);
    }
  } finally {
    await serve.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
