/**
 * What SDS costs a push: the push pipeline in process (store → mesh →
 * generation → encoded snapshots), timed by its own PushReport, for one
 * ingress gateway with K HTTPS servers and 200 services behind it, plus
 * 20 sidecar views that get no secrets.
 *
 * - "files": the K servers use file certificates (no SDS): the baseline.
 * - "sds": the same servers with credentialName (K Secrets read, checked,
 *   encoded and served over SDS).
 * - "rotate 1" / "rotate all": a Secret-only change (the SDS-only path).
 * A full push is timed by editing a VirtualService.
 *
 * Every rotation brings certificates never seen before (the encoder interns
 * by content, so reusing two would hide the encoding cost). Times are the
 * push's wall time (PushReport.ms) and the process CPU time it took, which a
 * shared machine disturbs less; each change is warmed up first.
 *
 * Usage: node dist/bench/sds-bench.js [K] [rounds]   (defaults 50 and 20)
 */
import { ConfigStore } from "../src/store";
import { parseManifests } from "../src/model/parse";
import { validateObject } from "../src/model/validate";
import type { MeshObject } from "../src/model/types";
import { PushPipeline, type PushReport } from "../src/push/pipeline";
import { SECRET } from "../src/xds/types";
import { secretYaml, testCa, testLeaf, type TestLeaf } from "../test/support/tls-certs";

const SERVICES = 200;
const SIDECARS = 20;

function objects(yaml: string): MeshObject[] {
  const parsed = parseManifests(yaml, "bench.yaml");
  if (parsed.diagnostics.length > 0) throw new Error(JSON.stringify(parsed.diagnostics));
  return parsed.objects.map(({ raw, origin }) => {
    const r = validateObject(raw, origin);
    if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
    return r.object;
  });
}

function mesh(): string {
  const docs: string[] = [];
  for (let i = 0; i < SERVICES; i++) {
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: svc-${i}, namespace: default}
spec: {clusterIP: 10.97.${i >> 8}.${i & 255}, selector: {app: svc-${i}}, ports: [{name: http, port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-${i}-x, namespace: default, labels: {kubernetes.io/service-name: svc-${i}}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
${Array.from({ length: 10 }, (_, j) => `  - {addresses: ["10.${100 + (i >> 8)}.${i & 255}.${j + 1}"], conditions: {ready: true}}`).join("\n")}`);
  }
  return docs.join("\n---\n");
}

function gateway(k: number, sds: boolean): string {
  const servers = Array.from({ length: k }, (_, i) => {
    const tls = sds
      ? `{mode: SIMPLE, credentialName: cred-${i}}`
      : `{mode: SIMPLE, serverCertificate: /etc/certs/${i}.pem, privateKey: /etc/certs/${i}-key.pem}`;
    return `    - port: {number: 443, name: https-${i}, protocol: HTTPS}\n      hosts: [h${i}.example.com]\n      tls: ${tls}`;
  });
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
${servers.join("\n")}`;
}

function virtualService(k: number, marker: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: istio-system}
spec:
  hosts: [${Array.from({ length: k }, (_, i) => `h${i}.example.com`).join(", ")}]
  gateways: [gw]
  http: [{headers: {request: {set: {x-edit: ${marker}}}}, route: [{destination: {host: svc-1.default.svc.cluster.local}}]}]`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)]!;
}

interface Row {
  setup: string;
  change: string;
  full: boolean;
  medianMs: number;
  p90Ms: number;
  medianCpuMs: number;
  encodes: number;
  secretsServed: number;
}

const WARMUP = 3;
const ROTATE_ALL_ROUNDS = 5;

/** `leaves[i][g]`: generation g of Secret cred-i. */
async function run(k: number, rounds: number, sds: boolean, leaves: TestLeaf[][]): Promise<Row[]> {
  const store = new ConfigStore();
  const secret = (i: number, gen: number) => {
    const leaf = leaves[i]![gen % leaves[i]!.length]!;
    return secretYaml("istio-system", `cred-${i}`, "tls", { cert: leaf.certPem, key: leaf.keyPem });
  };
  const secrets = (gen: number) => leaves.map((_, i) => secret(i, gen));
  store.apply(objects([mesh(), gateway(k, sds), virtualService(k, "m0"), ...(sds ? secrets(0) : [])].join("\n---\n")));
  const reports: PushReport[] = [];
  const pipeline = new PushPipeline(store, { debounceAfterMs: 0, debounceMaxMs: 0, onPush: (r) => reports.push(r) });
  const watch = (id: string, ns: string, labels: Record<string, string>) => {
    const r = pipeline.cache.resolve({ id, cluster: "c", metadata: { NAMESPACE: ns, LABELS: labels } });
    if (!r.ok) throw new Error(r.error);
    pipeline.cache.watch(r.group, () => undefined, id);
  };
  const gatewayId = "router~10.0.0.1~ingress-1.istio-system~istio-system.svc.cluster.local";
  watch(gatewayId, "istio-system", { istio: "ingressgateway" });
  for (let i = 0; i < SIDECARS; i++) watch(`sidecar~10.1.0.${i + 1}~app-${i}.ns-${i}~ns-${i}.svc.cluster.local`, `ns-${i}`, { app: `app-${i}` });
  const served = () => pipeline.snapshotForNode(gatewayId)?.types[SECRET].resources.size ?? 0;

  let generation = 0;
  const measure = async (change: string, n: number, objectsFor: (generation: number) => MeshObject[]): Promise<Row> => {
    const times: number[] = [];
    const cpu: number[] = [];
    let last: PushReport | undefined;
    for (let round = 1; round <= n + WARMUP; round++) {
      reports.length = 0;
      // Parsed before the clock starts: the push, not YAML parsing, is measured.
      store.apply(objectsFor(++generation));
      const before = process.cpuUsage();
      pipeline.flush();
      const used = process.cpuUsage(before);
      last = reports[0];
      if (!last) throw new Error(`${change}: no push`);
      if (round > WARMUP) {
        times.push(last.ms);
        cpu.push(Math.round((used.user + used.system) / 100) / 10);
      }
      await new Promise((r) => setImmediate(r));
    }
    return {
      setup: sds ? `sds (${k} credentialName)` : `files (${k} file certs)`,
      change,
      full: last!.full,
      medianMs: median(times),
      p90Ms: p90(times),
      medianCpuMs: median(cpu),
      encodes: last!.encodes,
      secretsServed: served(),
    };
  };
  const rows = [await measure("VirtualService edit (full push)", rounds, (g) => objects(virtualService(k, `m${g}`)))];
  if (sds) {
    rows.push(await measure("rotate 1 Secret (SDS only)", rounds, (g) => objects(secret(0, g))));
    rows.push(await measure(`rotate all ${k} Secrets (SDS only)`, ROTATE_ALL_ROUNDS, (g) => objects(secrets(g).join("\n---\n"))));
  }
  pipeline.stop();
  return rows;
}

async function main(): Promise<void> {
  const k = Number(process.argv[2] ?? 50);
  const rounds = Number(process.argv[3] ?? 20);
  const ca = await testCa();
  // Enough distinct generations that no measured rotation repeats a certificate.
  const generations = 3 * (rounds + WARMUP) + 2 * (ROTATE_ALL_ROUNDS + WARMUP) + 2;
  const leaves: TestLeaf[][] = [];
  for (let i = 0; i < k; i++) {
    const n = i === 0 ? generations : 3 * (ROTATE_ALL_ROUNDS + WARMUP) + 2;
    leaves.push(await Promise.all(Array.from({ length: n }, () => testLeaf(ca, [`h${i}.example.com`]))));
  }
  const rows = [...(await run(k, rounds, false, leaves)), ...(await run(k, rounds, true, leaves))];
  for (const r of rows) process.stdout.write(JSON.stringify(r) + "\n");
  console.table(rows);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
