/** The protocol decision, rule by rule, without sockets. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decideDelta, decideSotw, WatchState } from "../../src/server/should-respond";

const state = (names: string[], wildcard: boolean, sentNonce?: string, namesGiven = names.length > 0): WatchState => ({
  subscription: { wildcard, names: new Set(names) },
  sentNonce,
  namesGiven,
});
const sotw = (names: string[], responseNonce = "", errorMessage?: string, wildcardType = true) => ({ wildcardType, names, responseNonce, errorMessage });

test("SotW: the first request is initial; an empty LDS/CDS list is wildcard", () => {
  const d = decideSotw(undefined, sotw([]));
  assert.equal(d.kind, "initial");
  assert.equal(d.subscription.wildcard, true);
});

test("SotW: an empty nonce on a known type is a re-request (initial), e.g. after reconnect", () => {
  assert.equal(decideSotw(state([], true, "5"), sotw([], "")).kind, "initial");
});

test("SotW: ACK vs NACK is decided by error_detail, not by version", () => {
  assert.equal(decideSotw(state([], true, "1"), sotw([], "1")).kind, "ack");
  const nack = decideSotw(state([], true, "1"), sotw([], "1", "bad cluster"));
  assert.equal(nack.kind, "nack");
  assert.equal(nack.kind === "nack" && nack.message, "bad cluster");
});

test("SotW: a stale nonce is stale even when it carries an error, and keeps its subscription change", () => {
  const d = decideSotw(state(["a"], false, "2"), { wildcardType: false, names: ["a", "b"], responseNonce: "1", errorMessage: "x" });
  assert.equal(d.kind, "stale");
  assert.deepEqual([...d.subscription.names], ["a", "b"]);
  assert.equal(d.kind === "stale" && d.subscribed.join(), "b");
});

test("SotW: legacy wildcard holds only until names are given; '*' is explicit", () => {
  const named = decideSotw(state([], true, "1", false), sotw(["a"], "1"));
  assert.equal(named.subscription.wildcard, false);
  assert.equal(named.namesGiven, true);
  const emptyAfterNames = decideSotw(state(["a"], false, "2", true), sotw([], "2"));
  assert.equal(emptyAfterNames.subscription.wildcard, false);
  assert.equal(emptyAfterNames.subscription.names.size, 0);
  const star = decideSotw(state(["a"], false, "3", true), sotw(["*", "a"], "3"));
  assert.equal(star.subscription.wildcard, true);
  assert.deepEqual([...star.subscription.names], ["a"]);
});

test("SotW: RDS/EDS are never wildcard", () => {
  assert.equal(decideSotw(undefined, sotw([], "", undefined, false)).subscription.wildcard, false);
});

test("SotW: an ACK that adds names reports them as subscribed", () => {
  const d = decideSotw(state(["a"], false, "1"), { wildcardType: false, names: ["a", "c"], responseNonce: "1" });
  assert.equal(d.kind, "ack");
  assert.deepEqual(d.kind === "ack" && d.subscribed, ["c"]);
});

const delta = (subscribe: string[], unsubscribe: string[] = [], responseNonce = "", errorMessage?: string, wildcardType = true) => ({
  wildcardType,
  subscribe,
  unsubscribe,
  responseNonce,
  errorMessage,
});

test("delta: the first request with no names on a wildcard type subscribes wildcard", () => {
  const d = decideDelta(undefined, delta([]));
  assert.equal(d.kind, "initial");
  assert.equal(d.subscription.wildcard, true);
  assert.equal(decideDelta(undefined, delta([], [], "", undefined, false)).subscription.wildcard, false);
});

test("delta: subscribe/unsubscribe apply whatever the nonce", () => {
  const d = decideDelta(state(["a"], false, "4"), delta(["b"], ["a"], "1", undefined, false));
  assert.equal(d.kind, "stale");
  assert.deepEqual([...d.subscription.names], ["b"]);
  assert.deepEqual(d.kind === "stale" && d.subscribed, ["b"]);
});

test("delta: '*' toggles wildcard explicitly", () => {
  const on = decideDelta(state(["a"], false, "1"), delta(["*"], [], "1"));
  assert.equal(on.subscription.wildcard, true);
  const off = decideDelta(state([], true, "1"), delta([], ["*"], "1"));
  assert.equal(off.subscription.wildcard, false);
});

test("delta: ACK and NACK with the current nonce", () => {
  assert.equal(decideDelta(state([], true, "7"), delta([], [], "7")).kind, "ack");
  assert.equal(decideDelta(state([], true, "7"), delta([], [], "7", "nope")).kind, "nack");
});

test("SotW: an ACK repeating the subscription keeps its object (derived keys are not recomputed per ACK)", () => {
  const before = state(["b", "a"], false, "7");
  const same = decideSotw(before, sotw(["a", "b", "a"], "7", undefined, false));
  assert.equal(same.subscription, before.subscription);
  const changed = decideSotw(before, sotw(["a", "c"], "7", undefined, false));
  assert.notEqual(changed.subscription, before.subscription);
  assert.deepEqual([...changed.subscription.names], ["a", "c"]);
});

test("delta: an ACK without subscription changes keeps the subscription object; subscribed lists only new names once", () => {
  const before = state(["a"], false, "3");
  const ack = decideDelta(before, { wildcardType: false, subscribe: [], unsubscribe: [], responseNonce: "3" });
  assert.equal(ack.subscription, before.subscription);
  const d = decideDelta(before, { wildcardType: false, subscribe: ["a", "b", "b", "c"], unsubscribe: ["c"], responseNonce: "3" });
  assert.deepEqual(d.kind === "ack" && d.subscribed, ["b"]);
  assert.deepEqual([...d.subscription.names].sort(), ["a", "b"]);
});
