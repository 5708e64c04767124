/**
 * A real proxyless gRPC client (@grpc/grpc-js-xds) resolves xds:///bill-service
 * against `mini-pilot serve --resources` and routes real calls.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { getJson } from "../support/serve-process";
import { tally, withinBinomial } from "../support/backends";
import { serveBillService } from "../support/grpc-resources";
import { registerGrpcXds } from "../support/xds-bootstrap";

async function eventually<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 15000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("grpc-js-xds: 90/10 split, header routing, live update, rejected resource shows as ERROR and is not resent", async (t) => {
  const { serve, write } = await serveBillService(t);

  registerGrpcXds(serve.xdsPort, "sidecar~127.0.0.1~grpc-client.default~default.svc.cluster.local");
  const client = new grpc.Client("xds:///bill-service", grpc.credentials.createInsecure());
  t.after(() => client.close());

  const split = await tally(client, 1000);
  assert.equal((split.v1 ?? 0) + (split.v2 ?? 0), 1000);
  assert.ok(withinBinomial(split.v1 ?? 0, 1000, 0.9), `90/10 expected, got ${JSON.stringify(split)}`);

  const jason = new grpc.Metadata();
  jason.set("end-user", "jason");
  assert.deepEqual(await tally(client, 100, jason), { v2: 100 });

  // Live update: flip to 10/90 without touching the client.
  write({ v1Weight: 10, v2Weight: 90 });
  await eventually("the new split", async () => ((await tally(client, 100)).v2 ?? 0) > 60 || undefined);
  const flipped = await tally(client, 1000);
  assert.ok(withinBinomial(flipped.v2 ?? 0, 1000, 0.9), `10/90 expected, got ${JSON.stringify(flipped)}`);

  // A cluster the gRPC client rejects: ERROR in syncz, and not sent again.
  write({ v1Weight: 10, v2Weight: 90, badCluster: true });
  type Sync = { proxy: string; types: Record<string, { status: string; responses: number; lastError: { message: string } | null }> }[];
  const errored = await eventually("clusters ERROR in /debug/syncz", async () => {
    const s = (await getJson(serve.httpPort, "/debug/syncz")) as Sync;
    const c = s.find((x) => x.proxy.startsWith("sidecar~127.0.0.1~grpc-client"))?.types.clusters;
    return c?.status === "ERROR" ? c : undefined;
  });
  assert.match(errored.lastError!.message, /lb_policy: MAGLEV/);
  await new Promise((r) => setTimeout(r, 1000));
  const later = ((await getJson(serve.httpPort, "/debug/syncz")) as Sync).find((x) => x.proxy.startsWith("sidecar~127.0.0.1~grpc-client"))!.types.clusters!;
  assert.equal(later.status, "ERROR");
  assert.equal(later.responses, errored.responses, "the rejected clusters are not resent");
  // Fixing the file heals the client: SYNCED, and calls split 10/90 again.
  write({ v1Weight: 10, v2Weight: 90 });
  await eventually("clusters SYNCED again", async () => {
    const s = (await getJson(serve.httpPort, "/debug/syncz")) as Sync;
    return s.find((x) => x.proxy.startsWith("sidecar~127.0.0.1~grpc-client"))?.types.clusters?.status === "SYNCED" || undefined;
  });
  const healed = await tally(client, 200);
  assert.ok(withinBinomial(healed.v2 ?? 0, 200, 0.9), `10/90 expected, got ${JSON.stringify(healed)}`);
});
