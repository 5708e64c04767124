/**
 * The Envoy command line the agent runs, after pilot-agent's: one process per
 * pod (no hot restart), drain settings for graceful listener removal, and the
 * local address family of the pod.
 */

export interface EnvoyRunOptions {
  configPath: string;
  concurrency: number;
  logLevel: string;
  drainTimeS: number;
  parentShutdownTimeS: number;
  /** "v6" for an IPv6 pod, else "v4". */
  ipVersion: "v4" | "v6";
  /** Passed through last, so they can override anything above. */
  extra: string[];
}

export function envoyArgs(o: EnvoyRunOptions): string[] {
  return [
    "-c",
    o.configPath,
    "--drain-time-s",
    String(o.drainTimeS),
    // Drain every connection at once when a listener goes away, as Istio does,
    // rather than spreading closes over the drain time.
    "--drain-strategy",
    "immediate",
    "--parent-shutdown-time-s",
    String(o.parentShutdownTimeS),
    "--local-address-ip-version",
    o.ipVersion,
    // The agent restarts Envoy itself; hot restart would need shared memory and a base id per pod.
    "--disable-hot-restart",
    "--concurrency",
    String(o.concurrency),
    "-l",
    o.logLevel,
    ...o.extra,
  ];
}
