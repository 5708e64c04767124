/**
 * Generates the example configs in envoy-configs/ from fixed inputs, so the
 * checked-in files always match what the code produces today
 * (test/unit/envoy-configs.test.ts fails when they drift).
 *
 *   node dist/scripts/gen-envoy-configs.js           rewrite envoy-configs/, delete files no entry makes
 *   node dist/scripts/gen-envoy-configs.js --check   exit 1 and list what is stale
 *
 * To add a config, add a ConfigEntry to ENTRIES: a file name, a line saying
 * what it is, and a render function returning canonical Envoy JSON.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseFlags } from "../src/cli/args";
import { spec as bootstrapSpec } from "../src/cli/bootstrap";
import { bootstrapOptions } from "../src/bootstrap/env";
import { BootstrapOptions, renderBootstrap } from "../src/bootstrap/render";
import { serializeBootstrap } from "../src/bootstrap/check";
import { buildStatic, StaticRequest } from "../src/translate/static-bootstrap";
import { ManifestFile } from "../src/cli/translate";

export interface ConfigEntry {
  /** File name under envoy-configs/. */
  file: string;
  /** What the file is for, one line. */
  about: string;
  /** The config as canonical Envoy JSON (snake_case, "@type" on Anys). */
  render(): unknown;
}

/** Certificate paths in the TLS example; tests map this directory to real test certificates. */
export const EXAMPLE_CERT_DIR = "/etc/mini-pilot/certs";

export interface BootstrapExample {
  /** The pod's environment, as the sidecar injector would set it. */
  env: Record<string, string>;
  /** `mini-pilot bootstrap` flags. */
  argv: string[];
}

const BILL_POD = {
  POD_NAME: "bill-service-v1-6d4f8b7c9-x2x7q",
  POD_NAMESPACE: "default",
  INSTANCE_IP: "10.244.1.17",
  SERVICE_ACCOUNT: "bill-service",
  ISTIO_META_CLUSTER_ID: "Kubernetes",
};
const BILL_LABELS = ["--labels", "app=bill-service,version=v1"];

/** Every bootstrap variant the examples and the e2e tests cover. */
export const BOOTSTRAP_EXAMPLES = {
  sotw: { env: BILL_POD, argv: [...BILL_LABELS] },
  delta: { env: BILL_POD, argv: [...BILL_LABELS, "--xds-api", "delta"] },
  tls: {
    env: BILL_POD,
    argv: [
      ...BILL_LABELS,
      "--xds-address",
      "mini-pilot.istio-system.svc:15012",
      "--xds-tls",
      "--xds-ca",
      `${EXAMPLE_CERT_DIR}/root-cert.pem`,
      "--xds-cert",
      `${EXAMPLE_CERT_DIR}/cert-chain.pem`,
      "--xds-key",
      `${EXAMPLE_CERT_DIR}/key.pem`,
    ],
  },
  router: {
    env: {
      POD_NAME: "istio-ingressgateway-7b9f9c6d5-kq2lx",
      POD_NAMESPACE: "istio-system",
      INSTANCE_IP: "10.244.2.5",
      SERVICE_ACCOUNT: "istio-ingressgateway-service-account",
      ISTIO_META_CLUSTER_ID: "Kubernetes",
    },
    argv: ["--type", "router", "--labels", "app=istio-ingressgateway,istio=ingressgateway", "--locality", "us-east1/us-east1-b"],
  },
  zipkin: { env: BILL_POD, argv: [...BILL_LABELS, "--zipkin", "zipkin.istio-system:9411"] },
} satisfies Record<string, BootstrapExample>;

export type BootstrapVariant = keyof typeof BOOTSTRAP_EXAMPLES;

/** Options exactly as `mini-pilot bootstrap` resolves them for this example. */
export function exampleOptions(example: BootstrapExample): BootstrapOptions {
  const parsed = parseFlags(bootstrapSpec, example.argv);
  if (!parsed) throw new Error("unreachable: examples never ask for --help");
  return bootstrapOptions({ env: example.env, flags: parsed.flags, readFile: (p) => fs.readFileSync(p, "utf8") });
}

const bootstrapEntry = (variant: BootstrapVariant, about: string): ConfigEntry => ({
  file: `bootstrap-${variant}.json`,
  about,
  render: () => renderBootstrap(exampleOptions(BOOTSTRAP_EXAMPLES[variant])),
});

/** The seed scenario's client: front-tomcat's sidecar (labels come from its Pod in the folder). */
export const FRONT_TOMCAT_NODE = "sidecar~172.7.120.13~front-tomcat-6b8d7c5f4-9zq7w.default~default.svc.cluster.local";
export const PRODUCTPAGE_NODE = "sidecar~10.244.3.26~productpage-v1-6b746f74dc-9fvcv.default~default.svc.cluster.local";
export const INGRESS_NODE = "router~10.244.0.5~istio-ingressgateway-5d9c7b8f6-zz9xk.istio-system~istio-system.svc.cluster.local";
const INGRESS_LABELS = { istio: "ingressgateway", app: "istio-ingressgateway" };

/** Manifests of an example folder (repo-relative names, sorted), leaving out the files in `without`. */
function exampleFiles(folder: string, without: string[] = []): ManifestFile[] {
  const root = path.dirname(configDir());
  const dir = path.join(root, "examples", folder);
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f) && !without.includes(f))
    .sort()
    .map((f) => ({ file: `examples/${folder}/${f}`, text: fs.readFileSync(path.join(dir, f), "utf8") }));
}

/** `mini-pilot static` for an example: the config, or an error naming the example. */
function renderStaticExample(req: Omit<StaticRequest, "metadata"> & { metadata?: StaticRequest["metadata"] }): unknown {
  const r = buildStatic({ metadata: {}, ...req });
  if (!r.ok) throw new Error(`static config for ${req.nodeId}: ${r.error}`);
  return r.bootstrap;
}

const staticEntry = (file: string, about: string, req: () => Omit<StaticRequest, "metadata"> & { metadata?: StaticRequest["metadata"] }): ConfigEntry => ({
  file,
  about,
  render: () => renderStaticExample(req()),
});

export const ENTRIES: ConfigEntry[] = [
  bootstrapEntry("sotw", "sidecar bootstrap, state-of-the-world ADS to mini-pilot on 127.0.0.1:15010"),
  bootstrapEntry("delta", "sidecar bootstrap, delta (incremental) ADS"),
  bootstrapEntry("tls", "sidecar bootstrap, mutual TLS to the control plane with certificate files"),
  bootstrapEntry("router", "gateway (router) bootstrap with a locality"),
  staticEntry(
    "static-bill-service-no-rules.json",
    "static: front-tomcat's sidecar, bill-service without DestinationRule/VirtualService (v1 and v2 share the traffic)",
    () => ({
      files: exampleFiles("bill-service", ["destination-rule.yaml", "virtual-service.yaml"]),
      nodeId: FRONT_TOMCAT_NODE,
    }),
  ),
  staticEntry("static-bill-service.json", "static: front-tomcat's sidecar, bill-service with subsets, the 90/10 split and end-user: jason -> v2", () => ({
    files: exampleFiles("bill-service"),
    nodeId: FRONT_TOMCAT_NODE,
  })),
  staticEntry(
    "static-bill-service-local.json",
    "static: as static-bill-service.json, outbound listeners bound on 127.0.0.1 (--bind-outbound, no iptables), listener ports +10000",
    () => ({
      files: exampleFiles("bill-service"),
      nodeId: FRONT_TOMCAT_NODE,
      bindOutbound: "127.0.0.1",
      portOffset: 10000,
    }),
  ),
  staticEntry(
    "static-bookinfo-productpage.json",
    "static: productpage's sidecar in bookinfo: DestinationRules for every service, reviews for jason -> v2",
    () => ({
      files: exampleFiles("bookinfo"),
      nodeId: PRODUCTPAGE_NODE,
    }),
  ),
  staticEntry("static-bookinfo-ingressgateway.json", "static: the ingress gateway (router) serving bookinfo through bookinfo-gateway on port 8080", () => ({
    files: exampleFiles("bookinfo"),
    nodeId: INGRESS_NODE,
    metadata: { LABELS: INGRESS_LABELS },
  })),
];

/** Where the checked-in configs live, from src (ts-node) or dist (compiled) alike. */
export function configDir(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error("cannot find the repository root above " + __dirname);
    dir = up;
  }
  return path.join(dir, "envoy-configs");
}

/** File name → the text the generator writes today. */
export function renderAll(): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of ENTRIES) {
    if (out.has(e.file)) throw new Error(`two entries write ${e.file}`);
    out.set(e.file, serializeBootstrap(e.render()));
  }
  return out;
}

/** How the directory differs from the generator's output: files to rewrite and files to delete. */
export function staleness(dir: string, wanted = renderAll()): { changed: string[]; extra: string[] } {
  const changed: string[] = [];
  for (const [file, text] of wanted) {
    const p = path.join(dir, file);
    if (!fs.existsSync(p) || fs.readFileSync(p, "utf8") !== text) changed.push(file);
  }
  const present = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith(".")) : [];
  const extra = present.filter((f) => !wanted.has(f)).sort();
  return { changed, extra };
}

function main(argv: string[]): number {
  const dir = configDir();
  const wanted = renderAll();
  const { changed, extra } = staleness(dir, wanted);
  if (argv.includes("--check")) {
    for (const f of changed) process.stderr.write(`stale: envoy-configs/${f}\n`);
    for (const f of extra) process.stderr.write(`not generated: envoy-configs/${f}\n`);
    return changed.length || extra.length ? 1 : 0;
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const f of changed) {
    fs.writeFileSync(path.join(dir, f), wanted.get(f)!);
    process.stderr.write(`wrote envoy-configs/${f}\n`);
  }
  for (const f of extra) {
    fs.rmSync(path.join(dir, f));
    process.stderr.write(`removed envoy-configs/${f}\n`);
  }
  if (!changed.length && !extra.length) process.stderr.write("envoy-configs/ is up to date\n");
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
