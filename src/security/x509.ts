/**
 * The one door to @peculiar/x509 (X.509 and PKCS#10 encoding, so nothing here
 * hand-writes ASN.1). The library resolves its parsers through tsyringe, which
 * needs the reflect-metadata polyfill loaded first, and it signs with whatever
 * WebCrypto it is given: Node's own. Every security module imports it from here.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
