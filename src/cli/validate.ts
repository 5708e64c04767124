/**
 * `mini-pilot validate -f PATH [-f PATH...]`: parse and validate manifests
 * the way `serve` would read them, print every diagnostic as
 * `file:line kind namespace/name field: message`, and exit 1 on errors.
 *
 * `validateFiles` is the reusable part (files -> accepted objects and
 * diagnostics); checks across objects are added to it in one place.
 */
import { buildMesh } from "../model/mesh";
import { formatDiagnostic, objectKey, type Diagnostic, type MeshObject } from "../model/types";
import { objectsFromManifests, readManifestPaths } from "../sources/file/manifests";
import { CliError, parseFlags, type CommandSpec } from "./args";

export const summary = "check manifests (files or folders) against Istio's validation rules";

const SPEC: CommandSpec = {
  name: "validate",
  usage: "-f PATH [-f PATH...]      (-f - reads standard input)",
  description:
    "Parse Kubernetes and Istio manifests (.yaml, .yml, .json; folders are read recursively) and report\n" +
    "every problem as `file:line kind namespace/name field: message`. Exits 1 if there are errors.",
  flags: {
    filename: { type: "string", short: "f", multiple: true, arg: "PATH", help: "a manifest file, a folder of them, or - for standard input" },
  },
};

export interface ValidatedFiles {
  /** Objects that passed validation, one per key (the last definition), in file order. */
  objects: MeshObject[];
  /** Every diagnostic, sorted by file then line. */
  diagnostics: Diagnostic[];
  /** How many objects were read, accepted or not. */
  read: number;
}

function where(o: MeshObject): string {
  return `${o.origin?.file ?? "?"}${o.origin?.line ? `:${o.origin.line}` : ""}`;
}

/**
 * The same object defined twice: the later definition replaces the earlier one,
 * as in the store. Returns what the store would hold, and a warning per repeat.
 */
function latestPerKey(objects: MeshObject[]): { objects: MeshObject[]; diagnostics: Diagnostic[] } {
  const latest = new Map<string, MeshObject>();
  const diagnostics: Diagnostic[] = [];
  for (const o of objects) {
    const key = objectKey(o.kind, o.metadata.namespace, o.metadata.name);
    const earlier = latest.get(key);
    if (earlier) {
      diagnostics.push({
        severity: "warning",
        kind: o.kind,
        namespace: o.metadata.namespace,
        name: o.metadata.name,
        message: `also defined at ${where(earlier)}; the later definition wins`,
        ...(o.origin ? { origin: o.origin } : {}),
      });
      latest.delete(key);
    }
    latest.set(key, o);
  }
  return { objects: [...latest.values()], diagnostics };
}

function byLocation(a: Diagnostic, b: Diagnostic): number {
  const fa = a.origin?.file ?? "";
  const fb = b.origin?.file ?? "";
  if (fa !== fb) return fa < fb ? -1 : 1;
  return (a.origin?.line ?? 0) - (b.origin?.line ?? 0);
}

/** Read, parse and validate every manifest under `paths`. */
export function validateFiles(paths: readonly string[]): ValidatedFiles {
  const out: ValidatedFiles = objectsFromManifests(readManifestPaths(paths));
  const unique = latestPerKey(out.objects);
  out.objects = unique.objects;
  out.diagnostics.push(...unique.diagnostics);
  // Checks across objects (unknown hosts and subsets, competing VirtualServices) live in the mesh model.
  out.diagnostics.push(...buildMesh(out.objects).diagnostics);
  // Array.prototype.sort is stable: diagnostics on one line keep their field order.
  out.diagnostics.sort(byLocation);
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(SPEC, argv);
  if (!parsed) return 0;
  const paths = [...((parsed.flags.filename as string[] | undefined) ?? []), ...parsed.positionals];
  if (paths.length === 0) throw new CliError("at least one -f PATH is required\nRun 'mini-pilot validate --help' for the flags.");
  const result = validateFiles(paths);
  const errors = result.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = result.diagnostics.length - errors;
  const lines = result.diagnostics.map((d) => `${formatDiagnostic(d)}${d.severity === "warning" ? " (warning)" : ""}`);
  lines.push(`${result.read} objects, ${errors} errors, ${warnings} warnings`);
  process.stdout.write(`${lines.join("\n")}\n`);
  return errors > 0 ? 1 : 0;
}
