/**
 * pilot-agent's SDS server: Envoy's `sds-grpc` cluster reaches it over a Unix
 * socket and subscribes to `default` and `ROOTCA`, in state of the world
 * (StreamSecrets) or delta (DeltaSecrets), one stream or several. A renewed
 * certificate is pushed on every open stream at once: Envoy swaps it in
 * without a restart and without dropping connections.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { messageType } from "../xds/protos";
import { SECRET_TYPE_URL, WorkloadCertificate, encodeSecret } from "./secrets";
import { rawStreamingMethod } from "../util/raw-method";
import { onStreamEnd } from "../util/stream-end";

const SERVICE = "envoy.service.secret.v3.SecretDiscoveryService";

interface Log {
  info(msg: string): void;
  warn(msg: string): void;
}

interface SdsStream {
  names: Set<string>;
  /** Delta: versions the client holds, by name. */
  sent: Map<string, string>;
  push(): void;
}

export class SdsServer {
  private readonly server = new grpc.Server();
  private readonly streams = new Set<SdsStream>();
  private cert: WorkloadCertificate | undefined;
  private version = 0;
  private nonce = 0;

  constructor(private readonly log: Log) {
    const raw = (m: string, handler: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => void) => {
      const def = rawStreamingMethod(`/${SERVICE}/${m}`);
      this.server.addService({ [m]: def } as grpc.ServiceDefinition, { [m]: handler });
    };
    raw("StreamSecrets", (call) => this.sotw(call));
    raw("DeltaSecrets", (call) => this.delta(call));
  }

  /** Listen on a Unix socket (a stale socket file from an earlier run is replaced). */
  async listen(socketPath: string): Promise<void> {
    fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o750 });
    fs.rmSync(socketPath, { force: true });
    await new Promise<void>((resolve, reject) =>
      this.server.bindAsync(`unix://${path.resolve(socketPath)}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
    );
  }

  /** A new certificate: every open stream gets it now. */
  update(cert: WorkloadCertificate): void {
    this.cert = cert;
    this.version++;
    for (const s of this.streams) s.push();
  }

  get streamCount(): number {
    return this.streams.size;
  }

  shutdown(): void {
    this.server.forceShutdown();
  }

  private sotw(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const Req = messageType("envoy.service.discovery.v3.DiscoveryRequest");
    const Resp = messageType("envoy.service.discovery.v3.DiscoveryResponse");
    let sentVersion = -1;
    const s: SdsStream = {
      names: new Set(),
      sent: new Map(),
      push: () => {
        if (!this.cert || s.names.size === 0) return;
        const resources = [...s.names].sort().flatMap((n) => {
          const value = encodeSecret(n, this.cert!);
          return value ? [{ type_url: SECRET_TYPE_URL, value }] : [];
        });
        sentVersion = this.version;
        const msg = { version_info: String(this.version), resources, type_url: SECRET_TYPE_URL, nonce: String(++this.nonce) };
        call.write(Buffer.from(Resp.encode(Resp.fromObject(msg)).finish()));
      },
    };
    this.track(call, s);
    call.on("data", (bytes: Buffer) => {
      const req = Req.toObject(Req.decode(bytes)) as { resource_names?: string[]; response_nonce?: string; error_detail?: { message?: string } };
      if (req.error_detail?.message) this.log.warn(`Envoy rejected SDS secrets: ${req.error_detail.message}`);
      const names = new Set(req.resource_names ?? []);
      const changed = names.size !== s.names.size || [...names].some((n) => !s.names.has(n));
      s.names = names;
      for (const n of names)
        if (n !== "default" && n !== "ROOTCA") this.log.warn(`Envoy asked for SDS secret "${n}"; this agent serves only default and ROOTCA`);
      if (changed || sentVersion !== this.version) s.push();
    });
  }

  private delta(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const Req = messageType("envoy.service.discovery.v3.DeltaDiscoveryRequest");
    const Resp = messageType("envoy.service.discovery.v3.DeltaDiscoveryResponse");
    const s: SdsStream = {
      names: new Set(),
      sent: new Map(),
      push: () => {
        if (!this.cert) return;
        // Per-secret versions from the content: a renewal resends `default`, not an unchanged ROOTCA.
        const resources = [...s.names].sort().flatMap((name) => {
          const value = encodeSecret(name, this.cert!);
          if (!value) return [];
          const version = createHash("sha256").update(value).digest("hex").slice(0, 16);
          if (s.sent.get(name) === version) return [];
          s.sent.set(name, version);
          return [{ name, version, resource: { type_url: SECRET_TYPE_URL, value } }];
        });
        if (resources.length === 0) return;
        const msg = { system_version_info: String(this.version), resources, type_url: SECRET_TYPE_URL, nonce: String(++this.nonce) };
        call.write(Buffer.from(Resp.encode(Resp.fromObject(msg)).finish()));
      },
    };
    this.track(call, s);
    call.on("data", (bytes: Buffer) => {
      const req = Req.toObject(Req.decode(bytes)) as {
        resource_names_subscribe?: string[];
        resource_names_unsubscribe?: string[];
        initial_resource_versions?: Record<string, string>;
        error_detail?: { message?: string };
      };
      if (req.error_detail?.message) this.log.warn(`Envoy rejected SDS secrets: ${req.error_detail.message}`);
      for (const [n, v] of Object.entries(req.initial_resource_versions ?? {})) s.sent.set(n, v);
      for (const n of req.resource_names_subscribe ?? []) {
        if (n !== "default" && n !== "ROOTCA") this.log.warn(`Envoy asked for SDS secret "${n}"; this agent serves only default and ROOTCA`);
        s.names.add(n);
      }
      for (const n of req.resource_names_unsubscribe ?? []) {
        s.names.delete(n);
        s.sent.delete(n);
      }
      s.push();
    });
  }

  private track(call: grpc.ServerDuplexStream<Buffer, Buffer>, s: SdsStream): void {
    this.streams.add(s);
    const done = () => this.streams.delete(s);
    onStreamEnd(call, done);
  }
}
