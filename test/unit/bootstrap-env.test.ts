import { test } from "node:test";
import assert from "node:assert/strict";
import { bootstrapOptions, istioMeta, resolveLocality, Inputs } from "../../src/bootstrap/env";
import { parseDownwardApi, unquoteGo } from "../../src/bootstrap/downward";
import { CliError, parseFlags } from "../../src/cli/args";
import { spec } from "../../src/cli/bootstrap";

const POD = { POD_NAME: "bill-v1-7c9d-x2x7q", POD_NAMESPACE: "default", INSTANCE_IP: "10.244.1.17" };

/** Options for this env and argv, through the real flag parser (defaults included). */
const resolve = (env: Record<string, string>, argv: string[] = [], files: Record<string, string> = {}) => {
  const parsed = parseFlags(spec, argv);
  assert.ok(parsed);
  const inputs: Inputs = {
    env,
    flags: parsed.flags,
    readFile: (p) => {
      if (!(p in files)) throw new Error(`ENOENT: no such file, open '${p}'`);
      return files[p]!;
    },
  };
  return bootstrapOptions(inputs);
};

test("missing identity names every variable and its flag at once", () => {
  assert.throws(
    () => resolve({}),
    (e: unknown) => {
      assert.ok(e instanceof CliError);
      assert.equal(
        e.message,
        "missing required input: POD_NAME (or --pod-name), POD_NAMESPACE (or --namespace), INSTANCE_IP (or --ip); set the environment variable or pass the flag",
      );
      return true;
    },
  );
  assert.throws(() => resolve({ ...POD, INSTANCE_IP: "" }), /INSTANCE_IP \(or --ip\)/);
  assert.throws(() => resolve({ ...POD, INSTANCE_IP: "pod.local" }), /INSTANCE_IP \/ --ip must be an IP address/);
});

test("environment gives identity; flags win; defaults fill the rest", () => {
  const o = resolve({ ...POD, SERVICE_ACCOUNT: "bill" });
  assert.equal(o.proxyType, "sidecar");
  assert.equal(o.podName, POD.POD_NAME);
  assert.equal(o.namespace, "default");
  assert.equal(o.instanceIp, "10.244.1.17");
  assert.equal(o.serviceAccount, "bill");
  assert.equal(o.dnsDomain, "default.svc.cluster.local");
  assert.equal(o.clusterId, "Kubernetes");
  assert.equal(o.meshId, "cluster.local");
  assert.equal(o.workloadName, POD.POD_NAME, "no app label, no workload name: the pod name");
  assert.deepEqual(o.xds, { address: { host: "127.0.0.1", port: 15010 }, api: "sotw", initialFetchTimeout: "0s" });
  assert.deepEqual([o.adminPort, o.statsPort, o.readinessPort, o.bindAddress], [15000, 15090, 15021, "0.0.0.0"]);
  assert.equal(o.zipkin, undefined);

  const f = resolve({ ...POD, ISTIO_META_CLUSTER_ID: "east", ISTIO_META_MESH_ID: "m1" }, [
    "--pod-name",
    "other",
    "--namespace",
    "prod",
    "--ip",
    "fd00::7",
    "--type",
    "router",
    "--domain",
    "prod.svc.corp",
    "--xds-address",
    "cp.prod:15010",
    "--xds-api",
    "delta",
    "--admin-port",
    "19000",
    "--stats-port",
    "19090",
    "--readiness-port",
    "0",
    "--zipkin",
    "zipkin:9411",
    "--mesh-id",
    "m2",
    "--workload-name",
    "wl",
    "--initial-fetch-timeout",
    "1.5s",
  ]);
  assert.deepEqual([f.podName, f.namespace, f.instanceIp, f.proxyType, f.dnsDomain], ["other", "prod", "fd00::7", "router", "prod.svc.corp"]);
  assert.deepEqual(f.xds, { address: { host: "cp.prod", port: 15010 }, api: "delta", initialFetchTimeout: "1.5s" });
  assert.deepEqual([f.adminPort, f.statsPort, f.readinessPort], [19000, 19090, undefined]);
  assert.deepEqual(f.zipkin, { host: "zipkin", port: 9411 });
  assert.equal(f.clusterId, "east", "ISTIO_META_CLUSTER_ID when there is no flag");
  assert.equal(f.meshId, "m2", "the flag over ISTIO_META_MESH_ID");
  assert.equal(f.workloadName, "wl");
});

test("ISTIO_META_*: prefix stripped, JSON objects and lists parsed, scalars kept as strings", () => {
  const meta = istioMeta({
    ISTIO_META_LABELS: '{"app":"x"}',
    ISTIO_META_LIST: '["a", 1]',
    ISTIO_META_FLAG: "true",
    ISTIO_META_NUM: "42",
    ISTIO_META_BROKEN: "{not json",
    ISTIO_META_: "ignored",
    OTHER: "ignored",
  });
  assert.deepEqual(meta, { BROKEN: "{not json", FLAG: "true", LABELS: { app: "x" }, LIST: ["a", 1], NUM: "42" });
  assert.deepEqual(Object.keys(meta), ["BROKEN", "FLAG", "LABELS", "LIST", "NUM"]);
});

test("labels: ISTIO_META_LABELS < --labels-file (pod-template-hash dropped) < --labels; the app label names the workload", () => {
  const files = { "/etc/istio/pod/labels": 'app="from-file"\npod-template-hash="7c9d"\ntier="web"\nversion="v1"\n' };
  const o = resolve(
    { ...POD, ISTIO_META_LABELS: '{"app":"from-meta","team":"pay"}' },
    ["--labels-file", "/etc/istio/pod/labels", "--labels", "version=v2"],
    files,
  );
  assert.deepEqual(o.labels, { app: "from-file", team: "pay", tier: "web", version: "v2" });
  assert.equal(o.workloadName, "from-file");
  assert.throws(() => resolve(POD, ["--labels-file", "/nope"]), /--labels-file \/nope: ENOENT/);
  assert.throws(
    () => resolve(POD, ["--labels-file", "/bad"], { "/bad": "app=unquoted\n" }),
    /--labels-file \/bad: line 1 \(app\): expected a double-quoted value/,
  );
  assert.throws(() => resolve(POD, ["--labels", "novalue"]), /--labels wants k=v pairs/);
});

test("downward API file format: Go-quoted values", () => {
  assert.deepEqual(parseDownwardApi('a="1"\n\nb="x=y"\r\nc=""\n'), { a: "1", b: "x=y", c: "" });
  assert.equal(unquoteGo('"say \\"hi\\"\\n\\ttab\\\\"'), 'say "hi"\n\ttab\\');
  assert.equal(unquoteGo('"caf\\u00e9 caf\\xc3\\xa9 \\303\\251 \\U0001F600"'), "café café é 😀");
  assert.throws(() => unquoteGo('"a"b"'), /unescaped quote/);
  assert.throws(() => unquoteGo('"\\q"'), /unknown escape/);
  assert.throws(() => parseDownwardApi("justtext"), /line 1: expected key="value"/);
});

test("locality: --locality, else the istio-locality label (dots), else ISTIO_META_LOCALITY", () => {
  assert.deepEqual(resolveLocality("us/us-east1-b/rack1"), { region: "us", zone: "us-east1-b", subZone: "rack1" });
  assert.deepEqual(resolveLocality("us"), { region: "us" });
  assert.equal(resolveLocality(""), undefined);
  assert.throws(() => resolveLocality("a/b/c/d"), /REGION\/ZONE\/SUBZONE/);
  assert.deepEqual(resolve(POD, ["--locality", "r1/z1"]).locality, { region: "r1", zone: "z1" });
  assert.deepEqual(resolve(POD, ["--labels", "istio-locality=r2.z2.s2"]).locality, { region: "r2", zone: "z2", subZone: "s2" });
  assert.deepEqual(resolve({ ...POD, ISTIO_META_LOCALITY: "r3/z3" }).locality, { region: "r3", zone: "z3" });
  assert.equal(resolve(POD).locality, undefined);
});

test("TLS flags: --xds-tls needs --xds-ca; cert and key go together; SNI and SAN default to the host name", () => {
  assert.throws(() => resolve(POD, ["--xds-ca", "/ca.pem"]), /--xds-ca only applies with --xds-tls/);
  assert.throws(() => resolve(POD, ["--xds-tls"]), /--xds-tls needs --xds-ca/);
  assert.throws(() => resolve(POD, ["--xds-tls", "--xds-ca", "/ca", "--xds-cert", "/c"]), /--xds-cert and --xds-key go together/);
  const named = resolve(POD, ["--xds-tls", "--xds-ca", "/ca", "--xds-address", "cp.istio-system.svc:15012"]).xds.tls;
  assert.deepEqual(named, { caFile: "/ca", sni: "cp.istio-system.svc", subjectAltNames: ["cp.istio-system.svc"] });
  const ip = resolve(POD, ["--xds-tls", "--xds-ca", "/ca", "--xds-cert", "/c", "--xds-key", "/k"]).xds.tls;
  assert.deepEqual(ip, { caFile: "/ca", certFile: "/c", keyFile: "/k", subjectAltNames: [] }, "an IP address gives neither SNI nor SAN");
  const explicit = resolve(POD, ["--xds-tls", "--xds-ca", "/ca", "--xds-sni", "s", "--xds-san", "a", "--xds-san", "b"]).xds.tls;
  assert.deepEqual(explicit, { caFile: "/ca", sni: "s", subjectAltNames: ["a", "b"] });
});

test("bad flag values say which flag and what it wants", () => {
  assert.throws(() => resolve(POD, ["--type", "gateway"]), /--type wants sidecar or router, got "gateway"/);
  assert.throws(() => resolve(POD, ["--xds-api", "rest"]), /--xds-api wants sotw or delta/);
  assert.throws(() => resolve(POD, ["--admin-port", "0"]), /--admin-port wants a port 1-65535, got "0"/);
  assert.throws(() => resolve(POD, ["--stats-port", "70000"]), /--stats-port wants a port/);
  assert.throws(() => resolve(POD, ["--xds-address", "nohost"]), /--xds-address wants HOST:PORT/);
  assert.throws(() => resolve(POD, ["--initial-fetch-timeout", "15"]), /--initial-fetch-timeout wants a duration/);
  assert.throws(() => resolve(POD, ["--bind-address", "any"]), /--bind-address must be an IP address/);
  assert.throws(() => resolve(POD, ["--locality", "a/b/c/d"]), /--locality wants/);
});
