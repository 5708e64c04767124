/**
 * The agent's SDS server on a real Unix socket, with a gRPC client speaking
 * as Envoy does: state of the world (StreamSecrets) and delta (DeltaSecrets)
 * subscriptions to `default` and `ROOTCA`, a renewed certificate pushed on
 * the open streams, ACKs answered with nothing, unknown names ignored.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { SdsServer } from "../../src/agent/sds-server";
import { SECRET_TYPE_URL, WorkloadCertificate } from "../../src/agent/secrets";
import { messageType } from "../../src/xds/protos";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-sds-"));
const socket = path.join(tmp, "sds", "socket");
const warnings: string[] = [];
const server = new SdsServer({ info: () => undefined, warn: (m) => warnings.push(m) });
after(() => {
  server.shutdown();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cert = (n: number): WorkloadCertificate => ({
  certChainPem: `-----BEGIN CERTIFICATE-----\nchain-${n}\n-----END CERTIFICATE-----\n`,
  keyPem: `key-${n}`,
  rootPem: "-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n",
  notAfter: new Date(Date.now() + 60_000),
});

type J = any;
const Secret = () => messageType("envoy.extensions.transport_sockets.tls.v3.Secret");

function open(method: "StreamSecrets" | "DeltaSecrets") {
  const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  const req = messageType(method === "StreamSecrets" ? "envoy.service.discovery.v3.DiscoveryRequest" : "envoy.service.discovery.v3.DeltaDiscoveryRequest");
  const res = messageType(method === "StreamSecrets" ? "envoy.service.discovery.v3.DiscoveryResponse" : "envoy.service.discovery.v3.DeltaDiscoveryResponse");
  const call = client.makeBidiStreamRequest(
    `/envoy.service.secret.v3.SecretDiscoveryService/${method}`,
    (o: object) => Buffer.from(req.encode(req.fromObject(o)).finish()),
    (b: Buffer) => b,
  );
  const inbox: J[] = [];
  const waiters: ((m: J) => void)[] = [];
  call.on("data", (b: Buffer) => {
    const m = res.toObject(res.decode(b), { bytes: Buffer }) as J;
    const w = waiters.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  call.on("error", () => undefined);
  const next = (ms = 3000): Promise<J> =>
    inbox.length
      ? Promise.resolve(inbox.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error("no SDS response")), ms);
          waiters.push((m) => {
            clearTimeout(t);
            resolve(m);
          });
        });
  const quiet = async (ms: number) => {
    await new Promise((r) => setTimeout(r, ms));
    return inbox.length;
  };
  return { send: (o: object) => call.write(o as never), next, quiet, close: () => (call.cancel(), client.close()) };
}

const decodeSecret = (value: Buffer): J => Secret().toObject(Secret().decode(value), { bytes: String });

test("SotW: default and ROOTCA on one stream, ACK quiet, a renewal pushed at once", async () => {
  await server.listen(socket);
  server.update(cert(1));
  const s = open("StreamSecrets");
  s.send({ node: { id: "sidecar~10.0.0.1~p.ns~ns.svc.cluster.local" }, type_url: SECRET_TYPE_URL, resource_names: ["default", "ROOTCA"] });
  const r = await s.next();
  assert.equal(r.type_url, SECRET_TYPE_URL);
  const secrets = r.resources.map((a: J) => decodeSecret(a.value));
  assert.deepEqual(
    secrets.map((x: J) => x.name),
    ["ROOTCA", "default"],
  );
  const def = secrets.find((x: J) => x.name === "default");
  assert.match(Buffer.from(def.tls_certificate.certificate_chain.inline_bytes, "base64").toString(), /chain-1/);
  assert.equal(Buffer.from(def.tls_certificate.private_key.inline_bytes, "base64").toString(), "key-1");
  assert.match(Buffer.from(secrets[0].validation_context.trusted_ca.inline_bytes, "base64").toString(), /root/);
  s.send({ type_url: SECRET_TYPE_URL, resource_names: ["default", "ROOTCA"], response_nonce: r.nonce, version_info: r.version_info });
  assert.equal(await s.quiet(300), 0, "an ACK gets no response");
  server.update(cert(2));
  const pushed = await s.next();
  assert.notEqual(pushed.version_info, r.version_info);
  const def2 = pushed.resources.map((a: J) => decodeSecret(a.value)).find((x: J) => x.name === "default");
  assert.match(Buffer.from(def2.tls_certificate.certificate_chain.inline_bytes, "base64").toString(), /chain-2/);
  s.close();
});

test("delta: subscribe one name at a time, renewal sends changed secrets only, unknown names are warned about", async () => {
  server.update(cert(3));
  const d = open("DeltaSecrets");
  d.send({ node: { id: "sidecar~10.0.0.1~p.ns~ns.svc.cluster.local" }, type_url: SECRET_TYPE_URL, resource_names_subscribe: ["default"] });
  const first = await d.next();
  assert.deepEqual(
    first.resources.map((r: J) => r.name),
    ["default"],
  );
  d.send({ type_url: SECRET_TYPE_URL, response_nonce: first.nonce });
  d.send({ type_url: SECRET_TYPE_URL, resource_names_subscribe: ["ROOTCA", "kubernetes://other"] });
  const second = await d.next();
  assert.deepEqual(
    second.resources.map((r: J) => r.name),
    ["ROOTCA"],
  );
  assert.equal(await d.quiet(300), 0);
  server.update(cert(4));
  const renewed = await d.next();
  assert.deepEqual(
    renewed.resources.map((r: J) => r.name),
    ["default"],
    "the unchanged ROOTCA is not resent",
  );
  assert.match(
    Buffer.from(
      decodeSecret(renewed.resources.find((r: J) => r.name === "default").resource.value).tls_certificate.certificate_chain.inline_bytes,
      "base64",
    ).toString(),
    /chain-4/,
  );
  d.close();
  assert.ok(warnings.some((w) => w.includes('"kubernetes://other"')));
  assert.ok(!warnings.join("\n").includes("key-"), "no key in the agent's messages");
});
