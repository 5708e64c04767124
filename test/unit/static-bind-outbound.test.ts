/**
 * `mini-pilot static --bind-outbound`: an outbound HTTP listener that now
 * binds its own socket gets the accept limit istiod writes on every listener
 * that binds (max_connections_to_accept_per_socket_event: 1); without the
 * flag it stays `bind_to_port: false` and without the limit, as istiod's
 * captured sidecar listeners are.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { buildStatic } from "../../src/translate/static-bootstrap";
import { caseManifests, GOLDEN_DIR } from "../support/golden-cases";

const SLEEP = "sidecar~10.244.1.30~sleep-7f8d9c6b5-ccccc.default~default.svc.cluster.local";
const META = { NAMESPACE: "default", LABELS: { app: "sleep" } };

type L = {
  name: string;
  bind_to_port?: boolean;
  address: { socket_address: { address: string; port_value: number } };
  max_connections_to_accept_per_socket_event?: number;
};

function listeners(bindOutbound: string | undefined): Map<string, L> {
  const r = buildStatic({
    files: caseManifests(path.join(GOLDEN_DIR, "dr-tls")),
    nodeId: SLEEP,
    metadata: META,
    portOffset: 10_000,
    ...(bindOutbound !== undefined ? { bindOutbound } : {}),
  });
  assert.ok(r.ok, r.ok ? "" : r.error);
  const res = r.bootstrap.static_resources as unknown as { listeners: L[] };
  return new Map(res.listeners.map((l) => [l.name, l]));
}

test("static --bind-outbound: the bound HTTP outbound listener accepts one connection per socket event, as istiod's bound listeners", () => {
  const bound = listeners("127.0.0.1").get("0.0.0.0_8000")!;
  assert.equal(bound.bind_to_port, undefined);
  assert.deepEqual(bound.address.socket_address, { address: "127.0.0.1", port_value: 18000 });
  assert.equal(bound.max_connections_to_accept_per_socket_event, 1);
  // virtualOutbound had it already and keeps it.
  assert.equal(listeners("127.0.0.1").get("virtualOutbound")!.max_connections_to_accept_per_socket_event, 1);
});

test("static without --bind-outbound: the outbound HTTP listener does not bind and has no accept limit (istiod's captured sidecar)", () => {
  const l = listeners(undefined).get("0.0.0.0_8000")!;
  assert.equal(l.bind_to_port, false);
  assert.equal(l.max_connections_to_accept_per_socket_event, undefined);
});
