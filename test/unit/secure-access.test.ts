/** Who a secure-port caller is and which nodes it may be served; the folder-mode token file. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { authorizeNode, meshAccessControl, nodeIdNamespace, type MeshCaller } from "../../src/security/access";
import { TokenFileAuthenticator, parseTokenFile } from "../../src/security/tokens";
import { GRPC_CODE } from "../../src/security/errors";

const caller: MeshCaller = {
  trustDomain: "cluster.local",
  namespace: "shop",
  serviceAccount: "bill",
  identity: "spiffe://cluster.local/ns/shop/sa/bill",
  via: "token",
};

test("node id namespace: type~ip~pod.ns~domain", () => {
  assert.equal(nodeIdNamespace("sidecar~10.0.0.1~bill-1.shop~shop.svc.cluster.local"), "shop");
  assert.equal(nodeIdNamespace("router~10.0.0.1~gw-1.my.pod.istio-system~istio-system.svc.cluster.local"), "istio-system");
  assert.equal(nodeIdNamespace("just-a-name"), undefined);
  assert.equal(nodeIdNamespace("sidecar~10.0.0.1~nodot~x"), undefined);
});

test("authorizeNode: same namespace and service account pass; anything else says why", () => {
  assert.equal(
    authorizeNode(caller, { id: "sidecar~10.0.0.1~bill-1.shop~shop.svc.cluster.local", metadata: { NAMESPACE: "shop", SERVICE_ACCOUNT: "bill" } }),
    undefined,
  );
  assert.equal(authorizeNode(caller, { id: "sidecar~10.0.0.1~bill-1.shop~shop.svc.cluster.local", metadata: {} }), undefined);
  assert.match(
    authorizeNode(caller, { id: "sidecar~10.0.0.1~x.other~other.svc.cluster.local", metadata: {} })!,
    /only get config for proxies in namespace "shop"; node .* is in "other"/,
  );
  assert.match(authorizeNode(caller, { id: "sidecar~10.0.0.1~x.shop~shop.svc.cluster.local", metadata: { NAMESPACE: "other" } })!, /says NAMESPACE "other"/);
  assert.match(
    authorizeNode(caller, { id: "sidecar~10.0.0.1~x.shop~shop.svc.cluster.local", metadata: { SERVICE_ACCOUNT: "admin" } })!,
    /service account "bill"; .* says SERVICE_ACCOUNT "admin"/,
  );
  assert.match(authorizeNode(caller, { id: "free-form-id", metadata: {} })!, /is not <type>~<ip>~<pod>\.<namespace>~<domain>/);
});

test("token file: grants parsed; bad lines named by file:line without the token", () => {
  const grants = parseTokenFile("# c\n\nshop/bill abcdefghijklmnop1234\n", "t.txt");
  assert.equal(grants.length, 1);
  assert.deepEqual(grants[0]!.who, { namespace: "shop", serviceAccount: "bill" });
  const bad =
    "shop/bill tiny\nnot-a-pair abcdefghijklmnopqrst\nShop/bill abcdefghijklmnopqrstu\nshop/bill abcdefghijklmnop1234\nshop/bill abcdefghijklmnop1234\n";
  assert.throws(
    () => parseTokenFile(bad, "t.txt"),
    (e: Error) => {
      assert.match(e.message, /t\.txt:1: the token is shorter than 16 characters/);
      assert.match(e.message, /t\.txt:2: "not-a-pair" is not <namespace>\/<service-account>/);
      assert.match(e.message, /t\.txt:3: namespace "Shop" is not a Kubernetes namespace name/);
      assert.match(e.message, /t\.txt:5: this token is already granted on an earlier line/);
      for (const t of ["abcdefghijklmnop1234", "abcdefghijklmnopqrst", "tiny"]) assert.ok(!e.message.includes(t), "no token in the message");
      return true;
    },
  );
});

test("access control: token file caller, re-read on change, refused tokens say so without the token", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mini-pilot-tokens-"));
  const file = path.join(dir, "tokens");
  fs.writeFileSync(file, "shop/bill token-one-0123456789\n");
  const access = meshAccessControl({ trustDomain: "cluster.local", tokens: new TokenFileAuthenticator(file) });
  const who = await access.authenticate({ bearerToken: "token-one-0123456789" });
  assert.equal(who.identity, "spiffe://cluster.local/ns/shop/sa/bill");
  await assert.rejects(access.authenticate({ bearerToken: "token-two-0123456789" }), (e: Error & { code: number }) => {
    assert.equal(e.code, GRPC_CODE.UNAUTHENTICATED);
    assert.ok(!e.message.includes("token-two"));
    return true;
  });
  fs.writeFileSync(file, "shop/bill token-one-0123456789\nweb/front token-two-0123456789xx\n");
  const later = Date.now() / 1000 + 5;
  fs.utimesSync(file, later, later);
  assert.equal((await access.authenticate({ bearerToken: "token-two-0123456789xx" })).namespace, "web");
  await assert.rejects(access.authenticate({}), /no credentials/);
  fs.rmSync(dir, { recursive: true, force: true });
});
