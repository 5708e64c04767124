/**
 * The mesh config in force, from up to three layers, later ones winning field
 * by field:
 *
 *   `--mesh-config FILE` (watched)  <  the `istio` ConfigMap's `mesh` key (watched)  <  flags
 *
 * Each layer is checked on its own. A layer that is refused (unknown field,
 * bad duration, ...) is reported with its source and field path and its last
 * good version stays in force; the process keeps serving. Only a file refused
 * at start is fatal (there is no last good one yet, and starting on defaults
 * the user did not ask for would be worse).
 *
 * `onChange` gets the merged options whenever they differ from the last ones.
 */
import * as fs from "node:fs";
import type { BuildMeshOptions } from "../model/mesh";
import { mergeMeshConfigs, parseMeshConfig, type MeshConfig } from "../model/mesh-config";
import { meshOptionsFromConfig } from "../model/mesh-config-options";
import { watchFile } from "./watch-file";

export interface MeshConfigLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface MeshConfigSourceOptions {
  /** `--mesh-config FILE`. */
  file?: string;
  /** Options set by flags: they override every layer. */
  overrides: BuildMeshOptions;
  log: MeshConfigLog;
}

export class MeshConfigError extends Error {}

export class MeshConfigSource {
  private fileLayer: MeshConfig = {};
  private configMapLayer: MeshConfig = {};
  private readonly refused = new Map<string, string[]>();
  private current: BuildMeshOptions;
  private stopWatch: () => void = () => undefined;
  /** Called with the new options after an accepted change (serve: a push to every proxy). */
  onChange: (options: BuildMeshOptions) => void = () => undefined;

  constructor(private readonly o: MeshConfigSourceOptions) {
    if (o.file !== undefined) {
      const loaded = this.readFile();
      for (const w of loaded.warnings) o.log.warn({ source: o.file }, w);
      if (!loaded.ok) throw new MeshConfigError(loaded.errors.join("\n"));
      this.fileLayer = loaded.config;
    }
    this.current = this.compute();
  }

  /** The merged options now in force. */
  options(): BuildMeshOptions {
    return this.current;
  }

  /** Where the ConfigMap is looked for: the root namespace from flags, else the file, else Istio's default. */
  rootNamespace(): string {
    return this.o.overrides.rootNamespace ?? this.fileLayer.rootNamespace ?? "istio-system";
  }

  /** Errors of the layers refused now (each message names its source and field), for /debug/configz. */
  errors(): string[] {
    return [...this.refused.values()].flat();
  }

  /** Reload the file when it changes. */
  watch(): void {
    if (this.o.file === undefined) return;
    this.stopWatch = watchFile(this.o.file, () => {
      const loaded = this.readFile();
      if (this.accept(this.o.file!, loaded)) {
        this.fileLayer = loaded.ok ? loaded.config : this.fileLayer;
        this.update(this.o.file!);
      }
    });
  }

  /** The ConfigMap key's text (undefined: no ConfigMap or key, i.e. the defaults). */
  setConfigMapText(text: string | undefined, where: string): void {
    if (text === undefined) {
      this.refused.delete(where);
      this.configMapLayer = {};
      this.update(where);
      return;
    }
    const parsed = parseMeshConfig(text, where);
    if (!this.accept(where, parsed)) return;
    if (parsed.ok) this.configMapLayer = parsed.config;
    this.update(where);
  }

  stop(): void {
    this.stopWatch();
  }

  private readFile(): ReturnType<typeof parseMeshConfig> {
    const file = this.o.file!;
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message;
      return { ok: false, errors: [`${file}: ${why}`], warnings: [] };
    }
    return parseMeshConfig(text, file);
  }

  /** Log the result of a parse; true when it may replace its layer. */
  private accept(where: string, r: ReturnType<typeof parseMeshConfig>): boolean {
    for (const w of r.warnings) this.o.log.warn({ source: where }, w);
    if (!r.ok) {
      this.refused.set(where, r.errors);
      for (const e of r.errors) this.o.log.error({ source: where }, e);
      this.o.log.warn({ source: where }, "mesh config refused; the last good one stays in force");
      return false;
    }
    this.refused.delete(where);
    return true;
  }

  private compute(): BuildMeshOptions {
    return { ...meshOptionsFromConfig(mergeMeshConfigs(this.fileLayer, this.configMapLayer)), ...this.o.overrides };
  }

  private update(where: string): void {
    const next = this.compute();
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    this.current = next;
    this.o.log.info({ source: where }, "mesh config changed; pushing to every proxy");
    this.onChange(next);
  }
}
