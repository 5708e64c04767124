/**
 * The budget check before decoding (`namesOnWire` + `refuseIfOverBudget`):
 * it counts exactly what the decoded request is charged, and it never refuses
 * a request that decoding and `onRequest` would have let through. Two streams
 * run in lockstep on the same requests and clock, one with the check before
 * decoding (as the gRPC edge does) and one without; they must agree on every
 * response and every refusal.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { messageType } from "../../src/xds/protos";
import { CLUSTER, ENDPOINT, PUSH_ORDER } from "../../src/xds/types";
import { SnapshotCache } from "../../src/cache/snapshot-cache";
import { makeSnapshot } from "../../src/cache/snapshot";
import { decodeRequest, namesOnWire } from "../../src/server/decode";
import { Mode, StreamIO, XdsStream, namesInRequest } from "../../src/server/stream";
import { SotwStream } from "../../src/server/sotw-stream";
import { DeltaStream } from "../../src/server/delta-stream";
import { createStreamContext } from "../../src/server/context";
import { ServerLimits, newRateBudget } from "../../src/server/limits";
import { cluster, endpoints } from "../support/fixtures";

const NODE = { id: "sidecar~10.0.0.1~a.default~default.svc.cluster.local", cluster: "c", metadata: { fields: { NAMESPACE: { string_value: "default" } } } };

function encode(mode: Mode, o: object): Buffer {
  const t = messageType(mode === "sotw" ? "envoy.service.discovery.v3.DiscoveryRequest" : "envoy.service.discovery.v3.DeltaDiscoveryRequest");
  return Buffer.from(t.encode(t.fromObject(o)).finish());
}

/** A seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("namesOnWire counts what the decoded request carries, without decoding it", () => {
  const names = Array.from({ length: 1000 }, (_, i) => `n${i}`);
  const cases: [Mode, object][] = [
    ["sotw", { type_url: ENDPOINT, node: NODE, resource_names: names, version_info: "v1", response_nonce: "p1" }],
    ["sotw", { type_url: CLUSTER, resource_names: ["a", "a", "*"], error_detail: { code: 3, message: "no" } }],
    ["sotw", { type_url: CLUSTER }],
    ["delta", { type_url: ENDPOINT, node: NODE, resource_names_subscribe: names, resource_names_unsubscribe: ["x", "y"] }],
    ["delta", { type_url: ENDPOINT, resource_names_subscribe: ["*"], initial_resource_versions: { a: "1", b: "2", c: "" } }],
    ["delta", { type_url: CLUSTER, response_nonce: "p3" }],
  ];
  for (const [mode, o] of cases) {
    const bytes = encode(mode, o);
    assert.equal(namesOnWire(mode, bytes), namesInRequest(decodeRequest(mode, bytes)), JSON.stringify(o).slice(0, 80));
  }
  // Node metadata whose nested bytes look like name fields are not counted: only the top level is.
  const tricky = encode("delta", { type_url: ENDPOINT, node: { id: "x", cluster: "resource_names" }, resource_names_subscribe: ["a"] });
  assert.equal(namesOnWire("delta", tricky), 1);
  // A group (deprecated wire type, which decoders skip) hides no names from the count.
  const group = Buffer.concat([Buffer.from([(99 << 3) | 3]), Buffer.from([0x1a, 1, 0x61]), Buffer.from([(99 << 3) | 4])]);
  assert.equal(namesOnWire("delta", Buffer.concat([encode("delta", { resource_names_subscribe: ["a"] }), group])), 1);
  assert.throws(() => namesOnWire("delta", encode("delta", { resource_names_subscribe: names }).subarray(0, 500)), /truncated/);
  assert.throws(() => namesOnWire("sotw", Buffer.from([0xff])), /truncated/);
});

/** One side of the lockstep: a connection's streams, re-opened after a refusal, as a client would. */
class Side {
  readonly log: string[] = [];
  private stream!: XdsStream;
  private opened = 0;
  private readonly rate;

  constructor(
    private readonly mode: Mode,
    private readonly precheck: boolean,
    private readonly cache: SnapshotCache,
    private readonly ctx: ReturnType<typeof createStreamContext>,
  ) {
    this.rate = newRateBudget(ctx.limits, ctx.now);
    this.open();
  }

  private open(): void {
    const io: StreamIO = {
      write: (b) => {
        this.log.push(`write ${b.toString("hex")}`);
        return true;
      },
      fail: (code, message) => {
        this.log.push(`fail ${code} ${message}`);
        this.open();
      },
    };
    const id = `s${++this.opened}`;
    this.stream =
      this.mode === "sotw"
        ? new SotwStream(id, PUSH_ORDER, this.cache, io, this.ctx, this.rate)
        : new DeltaStream(id, PUSH_ORDER, this.cache, io, this.ctx, this.rate);
  }

  /** What the gRPC edge does with one message. */
  receive(bytes: Buffer): void {
    const s = this.stream;
    if (this.precheck && s.refuseIfOverBudget(namesOnWire(this.mode, bytes))) return;
    s.onRequest(decodeRequest(this.mode, bytes, s.proxyId === undefined));
  }

  get needsNode(): boolean {
    return this.stream.proxyId === undefined;
  }
}

function lockstep(mode: Mode, seed: number, limits: Partial<ServerLimits>): { requests: number; refusals: number } {
  const rnd = random(seed);
  let clock = 1_000_000;
  const now = () => clock;
  const cache = new SnapshotCache(() => ({ ok: true, group: "g" }));
  cache.set("g", makeSnapshot([cluster("a"), cluster("b"), endpoints("a", 80), endpoints("b", 81)]));
  const checked = new Side(mode, true, cache, createStreamContext(limits, now));
  const plain = new Side(mode, false, cache, createStreamContext(limits, now));
  const pool = Array.from({ length: 60 }, (_, i) => (i < 2 ? ["a", "b"][i]! : `n${i}`));
  const pick = (max: number) => Array.from({ length: Math.floor(rnd() * max) }, () => pool[Math.floor(rnd() * pool.length)]!);
  let refusals = 0;
  const requests = 400;
  for (let i = 0; i < requests; i++) {
    clock += Math.floor(rnd() * 400);
    const node = checked.needsNode ? { node: NODE } : {};
    const typeUrl = rnd() < 0.5 ? ENDPOINT : CLUSTER;
    const nonce = rnd() < 0.5 ? { response_nonce: `p${Math.floor(rnd() * 5)}` } : {};
    const msg =
      mode === "sotw"
        ? { type_url: typeUrl, ...node, ...nonce, resource_names: pick(50) }
        : {
            type_url: typeUrl,
            ...node,
            ...nonce,
            resource_names_subscribe: pick(40),
            resource_names_unsubscribe: pick(10),
            ...(node.node ? { initial_resource_versions: Object.fromEntries(pick(20).map((n) => [n, "1"])) } : {}),
          };
    const bytes = encode(mode, msg);
    const before = checked.log.length;
    checked.receive(bytes);
    plain.receive(bytes);
    assert.deepEqual(checked.log, plain.log, `request ${i} (seed ${seed}): ${JSON.stringify(msg).slice(0, 200)}`);
    refusals += checked.log.slice(before).filter((l) => l.startsWith("fail")).length;
  }
  return { requests, refusals };
}

test("the check before decoding refuses only what decoding would refuse: delta and SotW, random honest traffic", () => {
  const limits = { subscribedNamesPerSecond: 40, subscribedNamesBurst: 100, maxNamesPerRequest: 45, requestsPerSecond: 20, requestBurst: 40 };
  for (const mode of ["delta", "sotw"] as const) {
    let refusals = 0;
    for (let seed = 1; seed <= 10; seed++) refusals += lockstep(mode, seed, limits).refusals;
    // The traffic does run into the limits, so the agreement covers refusals, not only successes.
    assert.ok(refusals > 10, `${mode}: ${refusals} refusals`);
  }
  // With the defaults, the same traffic is never refused at all.
  for (const mode of ["delta", "sotw"] as const) assert.equal(lockstep(mode, 7, {}).refusals, 0);
});
