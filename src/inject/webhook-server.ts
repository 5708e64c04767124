/**
 * The injection webhook over HTTPS: POST /inject (Istio's path) answers
 * AdmissionReviews (webhook.ts); GET /healthz says it is up. The serving
 * certificate and key are given as PEM; `reload` swaps them without a
 * restart (a rotated certificate). Every reply is an AdmissionReview or a
 * plain error with a 4xx status: a request the server cannot read never
 * gets a 500, which the API server would count against failurePolicy.
 */
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log";
import { admit } from "./webhook";
import type { InjectSettings } from "./settings";

/** An AdmissionReview for a large pod is tens of KiB; the API server caps requests at 3 MiB. */
const MAX_BODY = 8 * 1024 * 1024;
export const WEBHOOK_PATHS = ["/inject", "/inject/"];

export interface WebhookServer {
  port: number;
  address: string;
  reload(tls: { cert: string; key: string }): void;
  close(): Promise<void>;
}

export interface WebhookOptions {
  host: string;
  port: number;
  cert: string;
  key: string;
  settings: InjectSettings;
  log: Logger;
}

export async function startWebhook(o: WebhookOptions): Promise<WebhookServer> {
  const server = https.createServer({ cert: o.cert, key: o.key, minVersion: "TLSv1.2" }, (req, res) => {
    const reply = (status: number, body: string, type = "application/json"): void => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    const url = new URL(req.url ?? "/", "https://webhook");
    if (req.method === "GET" && (url.pathname === "/healthz" || url.pathname === "/ready")) return reply(200, "ok\n", "text/plain");
    if (!WEBHOOK_PATHS.includes(url.pathname)) return reply(404, `no handler for ${url.pathname}; admission reviews go to POST /inject\n`, "text/plain");
    if (req.method !== "POST") return reply(405, "POST an AdmissionReview to /inject\n", "text/plain");
    const type = String(req.headers["content-type"] ?? "");
    if (!type.startsWith("application/json")) return reply(415, `want content-type application/json, got "${type}"\n`, "text/plain");
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(c);
    });
    req.on("end", () => {
      if (tooBig) return reply(413, `the AdmissionReview is larger than ${MAX_BODY} bytes\n`, "text/plain");
      let result;
      try {
        result = admit(Buffer.concat(chunks).toString("utf8"), o.settings);
      } catch (e) {
        // A bug of ours: say so in the review, let the API server apply failurePolicy.
        o.log.error({ err: e }, "injection webhook failed on a request");
        return reply(400, JSON.stringify({ error: `mini-pilot injection failed: ${(e as Error).message}` }));
      }
      o.log.info({ status: result.status }, `injection webhook: ${result.summary}`);
      reply(result.status, JSON.stringify(result.body));
    });
    req.on("error", () => res.destroy());
  });
  server.on("tlsClientError", (err) => o.log.debug({ err: err.message }, "injection webhook: TLS handshake failed"));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    port: addr.port,
    address: addr.address,
    reload: (tls) => server.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: "TLSv1.2" }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
