/**
 * The set-up the mutual-TLS sidecar tests share: a client and a server pod (network namespaces with istio-init's
 * capture rules, joined by their own veth), `mini-pilot serve` with its CA, its secure port and one token per
 * service account on the client pod's host-side address, and one `mini-pilot agent` per pod (key, CSR with its
 * token, SDS to the Envoy it runs).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ChildProcess } from "node:child_process";
import { findEnvoy } from "../support/envoy";
import { CLI, type ServeProcess, startServe } from "../support/serve-process";
import { type PodNetns, createPodNetns, linkPods, until } from "./netns";

export const TLS_MODE = "security.istio.io/tlsMode";

export interface MeshPod {
  ns: PodNetns;
  /** The pod's address on the pod-to-pod link: what the mesh knows it by. */
  meshIp: string;
  name: string;
  sa: string;
  app: string;
}

export interface AgentMeshOptions {
  /** A folder the pods can read (podReadableTmp). */
  tmp: string;
  /** The pod-to-pod link's /16 and interface prefix (distinct per test file). */
  link: { net: string; prefix: string };
  /** The config folder's mesh.yaml for these pods. */
  meshYaml: (pods: MeshPod[]) => string;
  serveArgs?: string[];
  agentArgs?: string[];
  /** What else must hold, besides listeners, before a pod's Envoy counts as ready. */
  ready?: (pod: MeshPod) => Promise<boolean>;
}

export interface AgentMesh {
  client: PodNetns;
  server: PodNetns;
  /** sleep (in the client pod), httpbin (in the server pod). */
  pods: MeshPod[];
  /** The folder `serve` reads. */
  config: string;
  serve: ServeProcess;
}

/** Starts the pods, the control plane and both agents; everything started is handed to `defer` to stop. */
export async function startAgentMesh(defer: (fn: () => unknown) => void, o: AgentMeshOptions): Promise<AgentMesh> {
  const client = createPodNetns();
  defer(() => client.destroy());
  const server = createPodNetns();
  defer(() => server.destroy());
  const link = linkPods(client, server, o.link);
  defer(() => link.destroy());
  const pods: MeshPod[] = [
    { ns: client, meshIp: link.aIp, name: "sleep-5d8f7c9b6-aaaaa", sa: "sleep", app: "sleep" },
    { ns: server, meshIp: link.bIp, name: "httpbin-7b9c8d6f5-bbbbb", sa: "httpbin", app: "httpbin" },
  ];

  // The control plane on the client pod's host side; the server pod reaches that host address through its own link.
  const config = path.join(o.tmp, "config");
  fs.mkdirSync(config);
  fs.writeFileSync(path.join(config, "mesh.yaml"), o.meshYaml(pods));
  const tokens = pods.map((p) => ({ pod: p, token: `token-${p.sa}-${randomBytes(12).toString("hex")}` }));
  fs.writeFileSync(path.join(o.tmp, "tokens"), tokens.map(({ pod, token }) => `default/${pod.sa} ${token}\n`).join(""), { mode: 0o600 });
  const rootFile = path.join(o.tmp, "root-cert.pem");
  const serve = await startServe([
    "--config-dir",
    config,
    "--xds-address",
    `${client.hostIp}:0`,
    "--secure-xds-address",
    `${client.hostIp}:0`,
    "--ca-dir",
    path.join(o.tmp, "ca"),
    "--root-cert-file",
    rootFile,
    "--token-file",
    path.join(o.tmp, "tokens"),
    ...(o.serveArgs ?? []),
  ]);
  defer(() => serve.stop());
  assert.ok(serve.securePort, "serve has a secure port");

  // One agent per pod, as root (the capture rules exempt UID 0, Envoy's here).
  for (const { pod, token } of tokens) {
    const dir = path.join(o.tmp, pod.app);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "token"), token, { mode: 0o600 });
    const args = [CLI, "agent", "--pod-name", pod.name, "--namespace", "default", "--ip", pod.meshIp, "--service-account", pod.sa];
    args.push("--labels", `app=${pod.app},${TLS_MODE}=istio`, "--xds-address", `${client.hostIp}:${serve.xdsPort}`);
    args.push("--ca-address", `${client.hostIp}:${serve.securePort}`, "--ca-root-cert", rootFile, "--token-file", path.join(dir, "token"));
    args.push("--sds-socket", path.join(dir, "sds", "socket"), "--out", path.join(dir, "envoy-rev0.json"), "--envoy", findEnvoy()!, "--log-level", "warning");
    args.push(...(o.agentArgs ?? []));
    let out = "";
    const agent: ChildProcess = pod.ns.spawn(process.execPath, args);
    agent.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    agent.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => agent.once("exit", r));
    defer(async () => {
      if (agent.exitCode === null) agent.kill("SIGTERM");
      await exited;
    });
    await until(`${pod.app}'s Envoy with its listeners:\n${out}`, async () => {
      assert.equal(agent.exitCode, null, `the ${pod.app} agent exited:\n${out}`);
      const listeners = await pod.ns.exec("curl", ["-s", "--max-time", "2", "http://127.0.0.1:15000/listeners"]);
      return listeners.includes("virtualInbound") && (o.ready ? await o.ready(pod) : true);
    });
  }
  return { client, server, pods, config, serve };
}
