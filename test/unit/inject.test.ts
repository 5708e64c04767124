import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { decide, PodFacts } from "../../src/inject/policy";
import { injectPod, InjectError, PodTemplate, statusAnnotation } from "../../src/inject/inject-pod";
import { injectObject, INJECTABLE_KINDS, podWorkload } from "../../src/inject/workloads";
import { DEFAULT_SETTINGS, InjectSettings } from "../../src/inject/settings";
import { parseFlags } from "../../src/cli/args";
import { spec as agentSpec } from "../../src/cli/agent";
import { identitySettings } from "../../src/cli/agent-identity";
import { bootstrapOptions } from "../../src/bootstrap/env";

type J = any; // Kubernetes JSON

const CLI = path.join(__dirname, "../../src/cli/main.js");
const ENABLED = { "istio-injection": "enabled" };

function facts(over: Partial<PodFacts> = {}): PodFacts {
  return { namespace: "shop", labels: {}, annotations: {}, hostNetwork: false, containerNames: ["app"], initContainerNames: [], ...over };
}

test("policy: namespace label, pod label over pod annotation, Istio's truthy values, exclusions", () => {
  const cases: [string, Partial<PodFacts>, Record<string, string> | undefined, boolean][] = [
    ["enabled namespace", {}, ENABLED, true],
    ["disabled namespace beats the pod's label", { labels: { "sidecar.istio.io/inject": "true" } }, { "istio-injection": "disabled" }, false],
    ["enabled namespace, annotation false", { annotations: { "sidecar.istio.io/inject": "false" } }, ENABLED, false],
    [
      "label true beats annotation false",
      { labels: { "sidecar.istio.io/inject": "true" }, annotations: { "sidecar.istio.io/inject": "false" } },
      ENABLED,
      true,
    ],
    [
      "label false beats annotation true",
      { labels: { "sidecar.istio.io/inject": "false" }, annotations: { "sidecar.istio.io/inject": "true" } },
      ENABLED,
      false,
    ],
    [
      "an empty label still hides the annotation (no opinion: the namespace decides)",
      { labels: { "sidecar.istio.io/inject": "" }, annotations: { "sidecar.istio.io/inject": "no" } },
      ENABLED,
      true,
    ],
    ["empty label, unlabelled namespace", { labels: { "sidecar.istio.io/inject": "" }, annotations: { "sidecar.istio.io/inject": "true" } }, {}, false],
    ["'yes' and 'on' are true", { annotations: { "sidecar.istio.io/inject": "On" } }, ENABLED, true],
    ["any other value opts out", { annotations: { "sidecar.istio.io/inject": "maybe" } }, ENABLED, false],
    ["unlabelled namespace, pod label true", { labels: { "sidecar.istio.io/inject": "true" } }, {}, true],
    ["unlabelled namespace, annotation only: the webhook is never called", { annotations: { "sidecar.istio.io/inject": "true" } }, {}, false],
    ["unlabelled namespace, nothing", {}, {}, false],
    ["offline (namespace unknown): injected", {}, undefined, true],
    ["offline, opted out", { annotations: { "sidecar.istio.io/inject": "false" } }, undefined, false],
    ["host network", { hostNetwork: true }, ENABLED, false],
    ["kube-system", { namespace: "kube-system" }, ENABLED, false],
    ["already injected", { annotations: { "sidecar.istio.io/status": "{}" } }, ENABLED, false],
    ["has an istio-proxy container", { containerNames: ["app", "istio-proxy"] }, ENABLED, false],
  ];
  for (const [name, over, ns, want] of cases) {
    const d = decide(facts(over), ns);
    assert.equal(d.inject, want, `${name}: ${d.reason}`);
    assert.ok(d.reason.length > 0);
  }
});

const POD: PodTemplate = {
  metadata: {
    labels: { app: "bill-service", version: "v2" },
    annotations: {
      "traffic.sidecar.istio.io/excludeOutboundPorts": "5432",
      "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.1/32",
      "traffic.sidecar.istio.io/excludeInboundPorts": "9000",
      "traffic.sidecar.istio.io/includeOutboundIPRanges": "10.0.0.0/8",
    },
  },
  spec: {
    serviceAccountName: "bill",
    initContainers: [{ name: "migrate", image: "migrate:1" }],
    containers: [{ name: "bill", image: "bill:2", ports: [{ name: "http", containerPort: 9999, protocol: "TCP" }] }],
    volumes: [{ name: "data", emptyDir: {} }],
  },
};
const CTX = {
  namespace: "shop",
  namespaceLabels: ENABLED,
  workload: { name: "bill-service-v2", owner: "kubernetes://apis/apps/v1/namespaces/shop/deployments/bill-service-v2" },
  settings: DEFAULT_SETTINGS,
};

test("the injected pod: istio-init last of the init containers, istio-proxy last, volumes, labels, status annotation", () => {
  const r = injectPod(POD, CTX);
  assert.ok(r.injected);
  const t = r.template as J;
  assert.deepEqual(
    t.spec.initContainers.map((c: J) => c.name),
    ["migrate", "istio-init"],
  );
  assert.deepEqual(
    t.spec.containers.map((c: J) => c.name),
    ["bill", "istio-proxy"],
  );
  assert.deepEqual(
    t.spec.volumes.map((v: J) => v.name),
    ["data", "istio-envoy", "istio-podinfo", "workload-socket", "istio-token", "istiod-ca-cert"],
  );
  // Workload certificates the pilot-agent way: CA_ADDR, a projected token for audience istio-ca, the mesh root.
  const proxyC = t.spec.containers[1];
  const envOf = (n: string) => proxyC.env.find((e: J) => e.name === n)?.value;
  assert.equal(envOf("CA_ADDR"), "mini-pilot.istio-system.svc:15012");
  assert.equal(envOf("PILOT_CERT_PROVIDER"), "istiod");
  const token = t.spec.volumes.find((v: J) => v.name === "istio-token");
  assert.deepEqual(token.projected.sources[0].serviceAccountToken, { audience: "istio-ca", expirationSeconds: 43200, path: "istio-token" });
  assert.deepEqual(t.spec.volumes.find((v: J) => v.name === "istiod-ca-cert").configMap, { name: "istio-ca-root-cert" });
  assert.deepEqual(
    proxyC.volumeMounts.map((m: J) => m.mountPath),
    ["/etc/istio/proxy", "/etc/istio/pod", "/var/run/secrets/workload-spiffe-uds", "/var/run/secrets/tokens", "/var/run/secrets/istio"],
  );
  const init = t.spec.initContainers[1];
  assert.deepEqual(init.securityContext.capabilities, { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] });
  assert.equal(init.securityContext.runAsUser, 0);
  assert.equal(init.args[0], "iptables");
  const arg = (name: string): string => init.args[init.args.indexOf(name) + 1];
  assert.equal(arg("--istio-local-outbound-ports-exclude"), "5432");
  assert.equal(arg("--istio-service-exclude-cidr"), "10.96.0.1/32");
  assert.equal(arg("--istio-service-cidr"), "10.0.0.0/8");
  assert.equal(arg("--istio-local-exclude-ports"), "15090,15021,15020,9000");
  assert.equal(arg("--istio-inbound-ports"), "*");
  assert.equal(arg("--proxy-uid"), "1337");
  const proxy = t.spec.containers[1];
  assert.equal(proxy.securityContext.runAsUser, 1337);
  assert.equal(proxy.securityContext.runAsGroup, 1337);
  assert.deepEqual(proxy.readinessProbe.httpGet, { path: "/healthz/ready", port: 15021 });
  assert.equal(proxy.args[0], "agent");
  const env = Object.fromEntries(proxy.env.map((e: J) => [e.name, e.value ?? e.valueFrom.fieldRef.fieldPath]));
  assert.equal(env.POD_NAME, "metadata.name");
  assert.equal(env.POD_NAMESPACE, "metadata.namespace");
  assert.equal(env.INSTANCE_IP, "status.podIP");
  assert.equal(env.SERVICE_ACCOUNT, "spec.serviceAccountName");
  assert.equal(env.ISTIO_META_WORKLOAD_NAME, "bill-service-v2");
  assert.equal(env.ISTIO_META_POD_PORTS, '[{"name":"http","containerPort":9999,"protocol":"TCP"}]');
  assert.equal(t.metadata.labels["security.istio.io/tlsMode"], "istio");
  assert.equal(t.metadata.labels["service.istio.io/canonical-name"], "bill-service");
  assert.equal(t.metadata.labels["service.istio.io/canonical-revision"], "v2");
  assert.equal(t.metadata.annotations["sidecar.istio.io/status"], statusAnnotation("default", DEFAULT_SETTINGS));
  assert.match(
    t.metadata.annotations["sidecar.istio.io/status"],
    /"volumes":\["istio-envoy","istio-podinfo","workload-socket","istio-token","istiod-ca-cert"\]/,
  );
  assert.equal(t.metadata.annotations["kubectl.kubernetes.io/default-container"], "bill");
  // The input is untouched.
  assert.equal((POD.spec as J).containers.length, 1);
});

/** What the kubelet would put in the environment for this pod. */
const DOWNWARD: Record<string, string> = {
  "metadata.name": "bill-service-v2-7f9c-abcde",
  "metadata.namespace": "shop",
  "status.podIP": "10.1.2.3",
  "spec.serviceAccountName": "bill",
  "status.hostIP": "192.168.1.10",
  "spec.nodeName": "node-1",
};
const LABELS_FILE = 'app="bill-service"\nversion="v2"\npod-template-hash="7f9c"\nsecurity.istio.io/tlsMode="istio"\n';

/**
 * The injected sidecar's agent, resolved as `mini-pilot agent` resolves it (src/cli/agent.ts): its
 * certificate settings from the flags and env, which set the SDS socket, then the bootstrap options.
 */
function resolveAgent(settings: InjectSettings, envOver: Record<string, string> = {}) {
  const t = injectPod(POD, { ...CTX, settings }).template as J;
  const proxy = t.spec.containers.find((c: J) => c.name === "istio-proxy");
  const env = { ...Object.fromEntries(proxy.env.map((e: J) => [e.name, e.value ?? DOWNWARD[e.valueFrom.fieldRef.fieldPath]])), ...envOver };
  const parsed = parseFlags(agentSpec, proxy.args.slice(1))!;
  const identity = identitySettings(parsed.flags, env);
  if (identity) parsed.flags["sds-socket"] = identity.sdsSocket;
  const options = () =>
    bootstrapOptions({
      env,
      flags: parsed.flags,
      readFile: (p) => {
        assert.equal(p, "/etc/istio/pod/labels");
        return LABELS_FILE;
      },
    });
  return { proxy, env, parsed, identity, options };
}

test("the sidecar's command and environment are what `mini-pilot agent` needs: the bootstrap options resolve from them", () => {
  const { parsed, options } = resolveAgent(DEFAULT_SETTINGS);
  const o = options();
  assert.equal(o.podName, "bill-service-v2-7f9c-abcde");
  assert.equal(o.namespace, "shop");
  assert.equal(o.instanceIp, "10.1.2.3");
  assert.equal(o.serviceAccount, "bill");
  assert.deepEqual(o.labels, { app: "bill-service", version: "v2", "security.istio.io/tlsMode": "istio" });
  assert.equal(o.workloadName, "bill-service-v2");
  assert.deepEqual(o.xds.address, { host: "mini-pilot.istio-system.svc", port: 15012 });
  assert.equal(o.readinessPort, 15021);
  assert.equal(parsed.flags.out, "/etc/istio/proxy/envoy-rev0.json");
});

test("secure by default: the injected agent gets its certificate on 15012 and its Envoy fetches xDS there over TLS with it", () => {
  const { proxy, env, identity, options } = resolveAgent(DEFAULT_SETTINGS);
  assert.deepEqual(proxy.args.slice(0, 4), ["agent", "--xds-address", "mini-pilot.istio-system.svc:15012", "--xds-tls"]);
  assert.equal(env.CA_ADDR, "mini-pilot.istio-system.svc:15012");
  assert.equal(env.PILOT_CERT_PROVIDER, "istiod");
  // The agent's certificate job: the install's TLS port, the projected token, the mounted root, the SDS socket.
  assert.ok(identity);
  assert.equal(identity.caAddress, "mini-pilot.istio-system.svc:15012");
  assert.equal(identity.caServerName, "mini-pilot.istio-system.svc");
  assert.equal(identity.tokenFile, "/var/run/secrets/tokens/istio-token");
  assert.equal(identity.caRootFile, "/var/run/secrets/istio/root-cert.pem");
  assert.equal(identity.sdsSocket, "/var/run/secrets/workload-spiffe-uds/socket");
  const mounts = proxy.volumeMounts.map((m: J) => m.mountPath);
  for (const f of [identity.tokenFile, identity.caRootFile, identity.sdsSocket]) assert.ok(mounts.includes(path.dirname(f)), `${f} is on a mounted volume`);
  // Envoy's xds-grpc: TLS to the secure port, the SDS `default` certificate presented, ROOTCA trusted, the Service name checked.
  const o = options();
  assert.deepEqual(o.xds.address, { host: "mini-pilot.istio-system.svc", port: 15012 });
  assert.deepEqual(o.xds.tls, { viaSds: true, sni: "mini-pilot.istio-system.svc", subjectAltNames: ["mini-pilot.istio-system.svc"] });
  assert.equal(o.sdsSocket, "/var/run/secrets/workload-spiffe-uds/socket");
  // An explicit TLS address is TLS too; an old `--agent-arg=--xds-tls` is not doubled.
  const custom = resolveAgent({ ...DEFAULT_SETTINGS, discoveryAddress: "10.96.0.10:15012", agentArgs: ["--xds-tls", "--xds-api=delta"] });
  assert.deepEqual(custom.proxy.args.slice(1, 4), ["--xds-address", "10.96.0.10:15012", "--labels-file"]);
  assert.equal(custom.proxy.args.filter((a: string) => a === "--xds-tls").length, 1);
  assert.equal(custom.options().xds.tls?.sni, "istiod.istio-system.svc", "an IP address checks istiod's name, as Istio's agent");
});

test("plaintext xDS only when asked: no CA address (no certificates), --plaintext-xds, or PILOT_CERT_PROVIDER=none with it", () => {
  const none = resolveAgent({ ...DEFAULT_SETTINGS, caAddress: "" });
  assert.deepEqual(none.proxy.args.slice(0, 4), ["agent", "--xds-address", "mini-pilot.istio-system.svc:15010", "--labels-file"]);
  assert.equal(none.env.CA_ADDR, undefined);
  assert.equal(none.identity, undefined);
  assert.equal(none.options().xds.tls, undefined);

  // Certificates (for mTLS between sidecars) but config over the plaintext port.
  const plain = resolveAgent({ ...DEFAULT_SETTINGS, plaintextXds: true });
  assert.ok(!plain.proxy.args.includes("--xds-tls"));
  assert.equal(plain.env.CA_ADDR, "mini-pilot.istio-system.svc:15012");
  assert.ok(plain.identity);
  assert.deepEqual(plain.options().xds.address, { host: "mini-pilot.istio-system.svc", port: 15010 });
  assert.equal(plain.options().xds.tls, undefined);
  // ... and PILOT_CERT_PROVIDER=none in the pod turns the certificate off too (the netns e2e's path).
  const off = resolveAgent({ ...DEFAULT_SETTINGS, plaintextXds: true, discoveryAddress: "10.0.0.1:31010" }, { PILOT_CERT_PROVIDER: "none" });
  assert.equal(off.identity, undefined);
  assert.deepEqual(off.options().xds.address, { host: "10.0.0.1", port: 31010 });
  assert.equal(off.options().xds.tls, undefined);
});

test("the init container's arguments are accepted by `mini-pilot iptables` and carry the annotations into the rules", () => {
  const t = injectPod(POD, CTX).template as J;
  const init = t.spec.initContainers.find((c: J) => c.name === "istio-init");
  const r = spawnSync(process.execPath, [CLI, ...init.args, "--dry-run"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /-A ISTIO_OUTPUT -p tcp --dport 5432 -j RETURN/);
  assert.match(r.stdout, /-A ISTIO_OUTPUT -d 10\.96\.0\.1\/32 -j RETURN/);
  assert.match(r.stdout, /-A ISTIO_OUTPUT -d 10\.0\.0\.0\/8 -j ISTIO_REDIRECT/);
  assert.match(r.stdout, /-A ISTIO_INBOUND -p tcp -m multiport --dports 15090,15021,15020,9000 -j RETURN/);
  assert.match(r.stdout, /--uid-owner 1337 -j RETURN/);
});

test("idempotent: injecting an injected pod changes nothing", () => {
  const once = injectPod(POD, CTX);
  const twice = injectPod(once.template, CTX);
  assert.equal(twice.injected, false);
  assert.match(twice.decision.reason, /already injected/);
  assert.equal(twice.template, once.template);
  const viaObject = injectObject(
    { apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "shop" }, spec: POD.spec },
    { defaultNamespace: "default", namespaceLabels: ENABLED, settings: DEFAULT_SETTINGS },
  );
  assert.equal(viaObject.kind, "pod");
  const again = injectObject(viaObject.kind === "pod" ? viaObject.object : undefined, {
    defaultNamespace: "default",
    namespaceLabels: ENABLED,
    settings: DEFAULT_SETTINGS,
  });
  assert.ok(again.kind === "pod" && !again.injected);
  assert.equal(JSON.stringify(again.object), JSON.stringify(viaObject.kind === "pod" ? viaObject.object : undefined));
});

test("an opted-out pod comes back as the very same object, serialised identically", () => {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", annotations: { "sidecar.istio.io/inject": "false" } },
    spec: { containers: [{ name: "a", image: "a" }] },
  };
  const before = JSON.stringify(pod);
  const r = injectObject(pod, { defaultNamespace: "shop", namespaceLabels: ENABLED, settings: DEFAULT_SETTINGS });
  assert.ok(r.kind === "pod" && !r.injected);
  assert.equal(r.object, pod);
  assert.equal(JSON.stringify(r.object), before);
});

test("bad input names the field: a bad annotation value, a missing container list, a clashing volume", () => {
  const withAnnotation = (k: string, v: string): PodTemplate => ({ metadata: { annotations: { [k]: v } }, spec: { containers: [{ name: "a" }] } });
  assert.throws(
    () => injectPod(withAnnotation("traffic.sidecar.istio.io/excludeOutboundPorts", "5432,http"), CTX),
    (e: unknown) =>
      e instanceof InjectError && /metadata\.annotations: annotation traffic\.sidecar\.istio\.io\/excludeOutboundPorts: "http" is not a port/.test(e.message),
  );
  assert.throws(
    () => injectPod(withAnnotation("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/99"), CTX),
    /includeOutboundIPRanges: "10\.0\.0\.0\/99" is not an IP range/,
  );
  assert.throws(
    () =>
      injectObject(
        { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" }, spec: { template: { spec: {} } } },
        { defaultNamespace: "x", settings: DEFAULT_SETTINGS },
      ),
    /spec\.template\.spec\.containers: is required/,
  );
  assert.throws(
    () => injectObject({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" } }, { defaultNamespace: "x", settings: DEFAULT_SETTINGS }),
    /^Error: spec: is required/,
  );
  assert.throws(
    () => injectPod({ spec: { containers: [{ name: "a" }], volumes: [{ name: "istio-envoy", emptyDir: {} }] } }, CTX),
    /spec\.volumes: already has a volume named istio-envoy/,
  );
  assert.throws(() => injectPod({ metadata: { labels: { a: 1 } }, spec: { containers: [{ name: "a" }] } } as J, CTX), /metadata\.labels\.a: must be a string/);
  assert.throws(() => injectPod({ spec: { containers: [{ image: "x" }] } }, CTX), /spec\.containers\[0\]\.name: is required/);
});

test("every workload kind has its template injected at its own path; other kinds pass through", () => {
  const template = { metadata: { labels: { app: "w" } }, spec: { containers: [{ name: "w", image: "w" }] } };
  const ctx = { defaultNamespace: "shop", settings: DEFAULT_SETTINGS };
  for (const kind of INJECTABLE_KINDS.filter((k) => k !== "Pod")) {
    const obj: J = { apiVersion: "x/v1", kind, metadata: { name: "w" }, spec: kind === "CronJob" ? { jobTemplate: { spec: { template } } } : { template } };
    const r = injectObject(obj, ctx);
    assert.ok(r.kind === "pod" && r.injected, kind);
    const t = kind === "CronJob" ? (r.object as J).spec.jobTemplate.spec.template : (r.object as J).spec.template;
    assert.deepEqual(
      t.spec.containers.map((c: J) => c.name),
      ["w", "istio-proxy"],
      kind,
    );
    assert.equal(obj.kind === "CronJob" ? obj.spec.jobTemplate.spec.template : obj.spec.template, template, "input untouched");
    const owner = t.spec.containers[1].env.find((e: J) => e.name === "ISTIO_META_OWNER").value;
    assert.match(owner, new RegExp(`^kubernetes://apis/.*/namespaces/shop/[a-z]+s/w$`), kind);
  }
  assert.deepEqual(injectObject({ apiVersion: "v1", kind: "Service", metadata: { name: "s" } }, ctx), {
    kind: "skipped",
    reason: "kind Service has no pod template",
  });
});

test("a Pod's workload: its Deployment through the ReplicaSet and pod-template-hash, else its owner, else its own name", () => {
  assert.deepEqual(
    podWorkload({ labels: { "pod-template-hash": "7f9c" }, ownerReferences: [{ kind: "ReplicaSet", name: "web-7f9c", controller: true }] }, "shop"),
    { name: "web", owner: "kubernetes://apis/apps/v1/namespaces/shop/deployments/web" },
  );
  assert.deepEqual(podWorkload({ ownerReferences: [{ kind: "StatefulSet", name: "db", controller: true }] }, "shop"), {
    name: "db",
    owner: "kubernetes://apis/apps/v1/namespaces/shop/statefulsets/db",
  });
  assert.deepEqual(podWorkload({ generateName: "job-x-" }, "shop"), { name: "job-x", owner: "kubernetes://apis/v1/namespaces/shop/pods/job-x" });
});

test("ISTIO_META_POD_PORTS carries Kubernetes' default protocol, so kube-inject writes what the webhook writes after defaulting", () => {
  const t = injectPod({ spec: { containers: [{ name: "a", ports: [{ containerPort: 80 }, { containerPort: 53, protocol: "UDP" }] }] } }, CTX).template as J;
  const ports = t.spec.containers[1].env.find((e: J) => e.name === "ISTIO_META_POD_PORTS").value;
  assert.equal(ports, '[{"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}]');
});
