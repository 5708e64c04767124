import { test } from "node:test";
import assert from "node:assert/strict";
import { Debouncer } from "../../src/push/debounce";
import { mergeRequests, PushRequest, requestFor } from "../../src/push/request";
import { FakeClock } from "../support/fake-clock";

function setup(afterMs = 100, maxMs = 1000) {
  const clock = new FakeClock();
  const fired: { at: number; req: PushRequest }[] = [];
  const d = new Debouncer<PushRequest>({ afterMs, maxMs }, mergeRequests, (req) => fired.push({ at: clock.now(), req }), clock);
  return { clock, fired, d };
}
const eds: PushRequest = { full: false, reasons: { EndpointSlice: 1 } };
const cfg: PushRequest = { full: true, reasons: { VirtualService: 1 } };

test("a burst merges into one push, fired after the quiet time", () => {
  const { clock, fired, d } = setup();
  d.push(eds);
  clock.advance(50);
  d.push(eds);
  clock.advance(50);
  d.push(cfg);
  clock.advance(99);
  assert.equal(fired.length, 0);
  clock.advance(1);
  assert.equal(fired.length, 1);
  assert.equal(fired[0]!.at, 200);
  assert.deepEqual(fired[0]!.req, { full: true, reasons: { EndpointSlice: 2, VirtualService: 1 } });
});

test("endpoint-only bursts stay endpoint-only", () => {
  const { clock, fired, d } = setup();
  d.push(eds);
  d.push(eds);
  clock.advance(100);
  assert.equal(fired[0]!.req.full, false);
});

test("the max delay bounds the wait under constant change", () => {
  const { clock, fired, d } = setup(100, 1000);
  for (let t = 0; t < 2500; t += 50) {
    d.push(eds);
    clock.advance(50);
  }
  assert.deepEqual(
    fired.map((f) => f.at),
    [1000, 2000],
  );
});

test("requestFor: endpoint kinds are EDS-only, anything else is full", () => {
  const obj = (kind: string) => ({ kind, metadata: { name: "x", namespace: "d" } }) as never;
  assert.equal(requestFor({ added: [obj("EndpointSlice"), obj("Pod")], updated: [obj("Node")], deleted: [] }).full, false);
  assert.equal(requestFor({ added: [obj("EndpointSlice")], updated: [obj("Service")], deleted: [] }).full, true);
});
