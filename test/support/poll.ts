/** Polling for the e2e tests: wait until something outside this process (Envoy, a control plane) gets there. */

/**
 * Call `probe` every `intervalMs` until it gives a value (a throw or undefined counts as "not yet"); after
 * `timeoutMs`, throw naming `what`, with `detail()` (a log tail, say) appended.
 */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  detail: () => Promise<string> | string = () => "",
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      const more = await detail();
      throw new Error(`${what}: not within ${timeoutMs}ms${more ? `\n${more}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
