/**
 * SotW ACKs repeat every subscribed name. Over a real socket: a request whose
 * names are byte for byte those of the stream's last request of that type is
 * not decoded again (src/server/repeated-names.ts), and the protocol still
 * sees every ACK, NACK and subscription change as before.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ENDPOINT } from "../../src/xds/types";
import * as decode from "../../src/server/decode";
import { TestSotwStream } from "../support/ads-client";
import { cluster, endpoints, listener, route, startTestServer } from "../support/fixtures";
import { eventually } from "../support/poll";

/** Wait until `ok()` holds (the server handles an ACK without answering it). */
const poll = (ok: () => boolean, what: string) =>
  eventually(
    what,
    5000,
    async () => (ok() ? true : undefined),
    () => "",
    5,
  );

/** Requests the gRPC edge decodes with the full decoder. */
function countDecodes(): { readonly count: number; restore(): void } {
  const mod = decode as { decodeRequest: typeof decode.decodeRequest };
  const original = mod.decodeRequest;
  let count = 0;
  mod.decodeRequest = (...args) => {
    count++;
    return original(...args);
  };
  return {
    get count() {
      return count;
    },
    restore: () => {
      mod.decodeRequest = original;
    },
  };
}

const names = Array.from({ length: 40 }, (_, i) => `svc-${i}`);
const resources = (port: number) => [
  ...names.map((n) => cluster(n)),
  ...names.map((n, i) => endpoints(n, i === 0 ? port : 9000 + i)),
  listener("l1", 10001, "r1"),
  route("r1", "svc-0"),
];

test("SotW: ACKs repeating the names are not decoded again; changes, NACKs and new names still are", async () => {
  const ts = await startTestServer(resources(8000));
  const decodes = countDecodes();
  const client = new grpc.Client(`127.0.0.1:${ts.port}`, grpc.credentials.createInsecure());
  const s = new TestSotwStream(client);
  const edsState = () => {
    const entry = ts.server.syncz()[0] as {
      types: { endpoints?: { ackedNonce: string | null; sentNonce: string | null; lastError: { message: string } | null } };
    };
    return entry?.types.endpoints;
  };
  try {
    s.send({ typeUrl: ENDPOINT, names });
    const r1 = await s.next();
    assert.equal(r1.names.length, names.length);
    s.ack(r1, names);
    await poll(() => edsState()?.ackedNonce === r1.nonce, "the first ACK is recorded");
    const afterFirstAck = decodes.count;

    // An endpoint change: only the changed assignment goes out; its ACK repeats all 40 names.
    ts.set(resources(8001));
    const r2 = await s.next();
    assert.deepEqual(r2.names, ["svc-0"]);
    s.ack(r2, names);
    await poll(() => edsState()?.ackedNonce === r2.nonce, "the second ACK is recorded");
    ts.set(resources(8002));
    const r3 = await s.next();
    s.ack(r3, names);
    await poll(() => edsState()?.ackedNonce === r3.nonce, "the third ACK is recorded");
    assert.equal(decodes.count, afterFirstAck, "ACKs repeating the same names were read without decoding them");

    // A NACK with the same names is decoded (error_detail) and recorded as one.
    ts.set(resources(8003));
    const r4 = await s.next();
    s.ack(r4, names, "bad endpoints");
    await poll(() => edsState()?.lastError?.message === "bad endpoints", "the NACK is recorded");
    assert.equal(decodes.count, afterFirstAck + 1);

    // A new name is a subscription change: decoded, and answered with the new resource.
    ts.set(resources(8004));
    const r5 = await s.next();
    s.ack(r5, names);
    await poll(() => edsState()?.ackedNonce === r5.nonce, "the ACK after the NACK is recorded");
    const more = [...names.slice(1), "svc-0", "svc-new"];
    ts.set([...resources(8004), cluster("svc-new"), endpoints("svc-new", 7000)]);
    s.ack(r5, more);
    const r6 = await s.next();
    assert.ok(r6.names.includes("svc-new"), `the new name is sent: ${r6.names.join(",")}`);
    assert.ok(decodes.count >= afterFirstAck + 2, "a request with other names is decoded");
    // Back to repeating: not decoded again.
    const before = decodes.count;
    s.ack(r6, more);
    await poll(() => edsState()?.ackedNonce === r6.nonce, "the last ACK is recorded");
    assert.equal(decodes.count, before);
  } finally {
    decodes.restore();
    s.close();
    client.close();
    await ts.stop();
  }
});
