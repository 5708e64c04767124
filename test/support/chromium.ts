/**
 * Headless Chromium driven over the Chrome DevTools Protocol, for tests of the
 * mesh page. The protocol runs over `--remote-debugging-pipe` (file
 * descriptors 3 and 4, JSON messages ended by a NUL byte), so no port is bound
 * and no WebSocket client is needed.
 *
 * Binary: $CHROMIUM_BIN, else `chromium` (Debian's package) or
 * `chromium-browser` on PATH.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";

export function findChromium(): string | undefined {
  if (process.env.CHROMIUM_BIN) return process.env.CHROMIUM_BIN;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) {
      const p = path.join(dir, name);
      if (dir && fs.existsSync(p)) return p;
    }
  }
  return undefined;
}

interface Pending {
  resolve(v: Record<string, unknown>): void;
  reject(e: Error): void;
  method: string;
}

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly events: { method: string; params: Record<string, unknown>; sessionId?: string }[] = [];
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly out: Writable,
  ) {}

  static async launch(): Promise<Browser> {
    const bin = findChromium();
    if (!bin) throw new Error("chromium not found: apt-get install chromium (or set CHROMIUM_BIN)");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mp-chromium-"));
    const child = spawn(
      bin,
      [
        "--headless=new",
        "--remote-debugging-pipe",
        `--user-data-dir=${dir}`,
        // We run as root in CI; Chromium's sandbox refuses root.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--window-size=1280,900",
        "about:blank",
      ],
      { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
    );
    const b = new Browser(child, dir, child.stdio[3] as Writable);
    let buf = Buffer.alloc(0);
    (child.stdio[4] as Readable).on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      let i: number;
      while ((i = buf.indexOf(0)) >= 0) {
        const msg = JSON.parse(buf.subarray(0, i).toString("utf8")) as {
          id?: number;
          result?: Record<string, unknown>;
          error?: { message: string };
          method?: string;
          params?: Record<string, unknown>;
          sessionId?: string;
        };
        buf = buf.subarray(i + 1);
        if (msg.id !== undefined) {
          const p = b.pending.get(msg.id);
          b.pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
          else p?.resolve(msg.result ?? {});
        } else if (msg.method) {
          b.events.push({ method: msg.method, params: msg.params ?? {}, ...(msg.sessionId ? { sessionId: msg.sessionId } : {}) });
        }
      }
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => {
      for (const p of b.pending.values()) p.reject(new Error(`chromium exited (${code}): ${stderr.slice(-2000)}`));
      b.pending.clear();
    });
    await b.send("Browser.getVersion");
    return b;
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.out.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + "\0");
    });
  }

  /** A new tab at `url`, with Page and Runtime enabled. */
  async open(url: string): Promise<Page> {
    const { targetId } = (await this.send("Target.createTarget", { url: "about:blank" })) as { targetId: string };
    const { sessionId } = (await this.send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this, sessionId);
    await this.send("Page.enable", {}, sessionId);
    await this.send("Runtime.enable", {}, sessionId);
    await this.send("Page.navigate", { url }, sessionId);
    return page;
  }

  /** Console errors and uncaught exceptions seen so far in a session. */
  pageErrors(sessionId: string): string[] {
    return this.events
      .filter((e) => e.sessionId === sessionId)
      .flatMap((e) => {
        if (e.method === "Runtime.exceptionThrown") return [JSON.stringify(e.params.exceptionDetails)];
        if (e.method === "Runtime.consoleAPICalled" && e.params.type === "error") return [JSON.stringify(e.params.args)];
        return [];
      });
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      await this.send("Browser.close").catch(() => undefined);
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export class Page {
  constructor(
    private readonly browser: Browser,
    readonly sessionId: string,
  ) {}

  /** Evaluate an expression in the page; returns its value (promises awaited). */
  async eval<T>(expression: string): Promise<T> {
    const r = (await this.browser.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, this.sessionId)) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Poll until `expression` is truthy; returns its value. */
  async waitFor<T>(expression: string, timeoutMs = 10_000, what = expression): Promise<T> {
    const until = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        last = await this.eval<T>(expression);
        if (last) return last as T;
      } catch (e) {
        last = e;
      }
      if (Date.now() > until) {
        const body = await this.eval<string>("document.body ? document.body.innerText : ''").catch(() => "?");
        throw new Error(`timed out waiting for ${what} (last: ${String(last)}); page text:\n${body}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async screenshot(file: string): Promise<void> {
    const { data } = (await this.browser.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true }, this.sessionId)) as { data: string };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(data, "base64"));
  }

  errors(): string[] {
    return this.browser.pageErrors(this.sessionId);
  }
}
