/**
 * The operator-facing views of config: the redaction seam (private keys never
 * leave, wherever they sit — a Secret, or a TLS context inside a listener's
 * Any), /debug/config_dump in Envoy's ConfigDump shape (it decodes as
 * envoy.admin.v3.ConfigDump), and the dump comparison proxy-status prints.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeToJson, fromJson } from "../../src/xds/json";
import { messageType } from "../../src/xds/protos";
import { REDACTED, redactBytes } from "../../src/xds/redact";
import { encodeResource, fromBytes } from "../../src/xds/resource";
import { LISTENER, XdsTypeUrl } from "../../src/xds/types";
import { makeSnapshot, makeTypeSnapshot, Snapshot } from "../../src/cache/snapshot";
import { envoyConfigDump } from "../../src/debug/config-dump";
import { SECRET as SECRET_TYPE } from "../../src/xds/types";
import { compareDumps, formatComparison, unifiedDiff } from "../../src/debug/dump-diff";
import { baseResources, cluster } from "../support/fixtures";
import { secretsTable } from "../../src/cli/proxy-config-tables";
import * as fs from "node:fs";
import { makeTestCerts } from "../support/envoy";

/** A real certificate (PEM) to sit next to the key. */
function certPem(): string {
  const certs = makeTestCerts("example.com");
  try {
    return fs.readFileSync(certs.serverCert, "utf8");
  } finally {
    fs.rmSync(certs.dir, { recursive: true, force: true });
  }
}

const KEY_MARK = "THIS-IS-THE-PRIVATE-KEY";

function secretBytes(certPem: string): Uint8Array {
  const type = messageType("envoy.extensions.transport_sockets.tls.v3.Secret");
  const json = {
    name: "default",
    tls_certificate: { certificate_chain: { inline_string: certPem }, private_key: { inline_string: `-----BEGIN PRIVATE KEY-----\n${KEY_MARK}\n` } },
  };
  return type.encode(fromJson(type, json)).finish();
}

test("redaction: a Secret's private key becomes [redacted], its certificate stays", () => {
  const pem = certPem();
  const out = decodeToJson(messageType("envoy.extensions.transport_sockets.tls.v3.Secret"), redactBytes(SECRET_TYPE, secretBytes(pem))) as {
    tls_certificate: { private_key: unknown; certificate_chain: { inline_string: string } };
  };
  assert.deepEqual(out.tls_certificate.private_key, { inline_string: REDACTED });
  assert.equal(out.tls_certificate.certificate_chain.inline_string, pem);
});

test("redaction: a private key inside a listener's transport socket (an Any) is redacted as Envoy does; config without secrets keeps its bytes", () => {
  const l = encodeResource(LISTENER, {
    name: "tls",
    address: { socket_address: { address: "127.0.0.1", port_value: 8443 } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.tcp_proxy",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "a" },
          },
        ],
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            common_tls_context: {
              tls_certificates: [{ certificate_chain: { inline_string: "CHAIN" }, private_key: { inline_bytes: Buffer.from(KEY_MARK).toString("base64") } }],
            },
          },
        },
      },
    ],
  });
  const redacted = redactBytes(LISTENER, l.bytes);
  const text = JSON.stringify(decodeToJson(messageType("envoy.config.listener.v3.Listener"), redacted));
  assert.ok(!text.includes(KEY_MARK) && !text.includes(Buffer.from(KEY_MARK).toString("base64")), text);
  // As Envoy prints it: the bytes "[redacted]", base64.
  assert.match(text, /"private_key":\{"inline_bytes":"W3JlZGFjdGVkXQ=="\}/);
  assert.match(text, /"inline_string":"CHAIN"/);
  const plain = cluster("a");
  assert.equal(redactBytes(plain.typeUrl, plain.bytes), plain.bytes, "nothing to redact: the same bytes");
});

function snapshotWithSecret(): Snapshot {
  const base = makeSnapshot(baseResources());
  const secret = fromBytes(SECRET_TYPE as XdsTypeUrl, "default", secretBytes(certPem()));
  return { version: base.version, types: { ...base.types, [SECRET_TYPE]: makeTypeSnapshot([secret]) } as Snapshot["types"] };
}

test("config_dump: Envoy's ConfigDump shape, every section decodes, secrets redacted", () => {
  const dump = envoyConfigDump(snapshotWithSecret());
  assert.deepEqual(
    dump.configs.map((c) => String(c["@type"]).split(".").pop()),
    ["ClustersConfigDump", "EndpointsConfigDump", "ListenersConfigDump", "RoutesConfigDump", "SecretsConfigDump"],
  );
  // The whole dump is a valid envoy.admin.v3.ConfigDump (fromJson refuses unknown fields).
  fromJson(messageType("envoy.admin.v3.ConfigDump"), dump);
  const text = JSON.stringify(dump);
  assert.ok(!text.includes(KEY_MARK));
  assert.match(text, /"private_key":\{"inline_string":"\[redacted\]"\}/);
  const listeners = dump.configs[2] as { dynamic_listeners: { name: string; active_state: { listener: { name: string } } }[] };
  assert.equal(listeners.dynamic_listeners[0]!.name, "l1");
  assert.equal(listeners.dynamic_listeners[0]!.active_state.listener.name, "l1");
});

test("dump comparison: equal dumps match; a changed, a missing and an extra resource are reported", () => {
  const ours = envoyConfigDump(makeSnapshot(baseResources()));
  const same = compareDumps(ours, JSON.parse(JSON.stringify(ours)));
  assert.ok(same.every((c) => c.match));
  assert.equal(formatComparison(same), "Clusters Match\nListeners Match\nRoutes Match\nEndpoints Match\n");

  const held = JSON.parse(JSON.stringify(ours)) as { configs: { "@type": string; dynamic_active_clusters?: { cluster: Record<string, unknown> }[] }[] };
  const clusters = held.configs[0]!.dynamic_active_clusters!;
  clusters[0]!.cluster.connect_timeout = "5s"; // a
  clusters.splice(1, 1); // b missing
  clusters.push({ cluster: { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: "stale", type: "STATIC" } });
  const c = compareDumps(ours, held).find((x) => x.title === "Clusters")!;
  assert.equal(c.match, false);
  assert.deepEqual(c.onlyServer, ["b"]);
  assert.deepEqual(c.onlyEnvoy, ["stale"]);
  assert.deepEqual(
    c.differ.map((d) => d.name),
    ["a"],
  );
  assert.match(c.differ[0]!.diff, /^- {2}"connect_timeout": "1s"$/m);
  assert.match(c.differ[0]!.diff, /^\+ {2}"connect_timeout": "5s"$/m);
  assert.match(
    formatComparison([c]),
    /^Clusters Don't Match\n {2}b: sent by mini-pilot, not held by Envoy\n {2}stale: held by Envoy, not sent by mini-pilot\n/,
  );
});

test("unified diff: hunks with three lines of context", () => {
  const a = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"].join("\n");
  const b = ["1", "2", "3", "4", "five", "6", "7", "8", "9", "10"].join("\n");
  assert.equal(unifiedDiff(a, b, "x", "y"), ["--- x", "+++ y", "@@", " 2", " 3", " 4", "-5", "+five", " 6", " 7", " 8"].join("\n"));
});

test("proxy-config secrets: the certificate's validity and serial, never the key", () => {
  const out = secretsTable(envoyConfigDump(snapshotWithSecret()));
  const [header, row, ...rest] = out.trimEnd().split("\n");
  assert.match(header!, /^RESOURCE NAME\s+TYPE\s+STATUS\s+VALID CERT\s+SERIAL NUMBER\s+NOT AFTER\s+NOT BEFORE$/);
  assert.match(row!, /^default\s+Cert Chain\s+ACTIVE\s+true\s+[0-9a-f]+\s+\d{4}-\d\d-\d\dT\S+Z\s+\d{4}-\d\d-\d\dT\S+Z$/);
  assert.deepEqual(rest, []);
  assert.ok(!out.includes(KEY_MARK));
});
