/**
 * `serve --resources FILE`: hand-written Envoy resources (YAML or JSON),
 * grouped as listeners/routes/clusters/endpoints, in canonical proto3 JSON form.
 * Every problem is reported as file:line with the field path and reason.
 */
import * as fs from "node:fs";
import * as YAML from "yaml";
import { describeFsError } from "./file/walk";
import { EncodedResource, encodeResource } from "../xds/resource";
import { ProtoJsonError } from "../xds/json";
import { TYPE_BY_SHORT_NAME, XdsTypeUrl } from "../xds/types";

export type LoadResult = { ok: true; resources: EncodedResource[] } | { ok: false; errors: string[] };

const GROUPS = Object.keys(TYPE_BY_SHORT_NAME);

/** Bytes the resources file may have; a bigger one is refused unread. */
export const MAX_RESOURCES_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Read and load the file. A file that is missing (deleted, or mid-replace by
 * an editor) or unreadable is refused like a broken one, never thrown: the
 * caller keeps serving what it had.
 */
export function loadResourcesFile(file: string, maxBytes = MAX_RESOURCES_FILE_BYTES): LoadResult {
  let text: string;
  try {
    const size = fs.statSync(file).size;
    if (size > maxBytes)
      return { ok: false, errors: [`${file}: file is ${(size / 1024 / 1024).toFixed(1)} MiB; the limit is ${(maxBytes / 1024 / 1024).toFixed(1)} MiB`] };
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    return { ok: false, errors: [`${file}: cannot read: ${describeFsError(e)}`] };
  }
  return loadResourcesText(text, file);
}

export function loadResourcesText(text: string, file: string): LoadResult {
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => `${file}:${offset === undefined ? 1 : lines.linePos(offset).line}`;
  if (doc.errors.length > 0) return { ok: false, errors: doc.errors.map((e) => `${at(e.pos[0])}: ${e.message.split("\n")[0]}`) };
  const root = doc.toJS() as unknown;
  if (root === null || root === undefined) return { ok: true, resources: [] };
  if (typeof root !== "object" || Array.isArray(root)) return { ok: false, errors: [`${file}:1: expected a map with keys ${GROUPS.join(", ")}`] };
  const errors: string[] = [];
  const resources: EncodedResource[] = [];
  const seen = new Set<string>();
  for (const [group, items] of Object.entries(root as Record<string, unknown>)) {
    const typeUrl = TYPE_BY_SHORT_NAME[group];
    const groupNode = doc.get(group, true) as YAML.Node | undefined;
    if (!typeUrl) {
      errors.push(`${at(groupNode?.range?.[0])}: unknown group "${group}"; expected ${GROUPS.join(", ")}`);
      continue;
    }
    if (items === null) continue;
    if (!Array.isArray(items)) {
      errors.push(`${at(groupNode?.range?.[0])}: ${group}: expected a list of resources`);
      continue;
    }
    items.forEach((item, i) => {
      const node = doc.getIn([group, i], true) as YAML.Node | undefined;
      const where = at(node?.range?.[0]);
      const result = encodeOne(typeUrl, item, `${group}[${i}]`);
      if (!result.ok) return errors.push(`${where}: ${result.error}`);
      const key = `${typeUrl}\n${result.resource.name}`;
      if (seen.has(key)) return errors.push(`${where}: ${group}[${i}]: duplicate name "${result.resource.name}"`);
      seen.add(key);
      resources.push(result.resource);
    });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, resources };
}

function encodeOne(typeUrl: XdsTypeUrl, item: unknown, at: string): { ok: true; resource: EncodedResource } | { ok: false; error: string } {
  if (typeof item !== "object" || item === null || Array.isArray(item)) return { ok: false, error: `${at}: expected a resource object` };
  const { "@type": declared, ...body } = item as Record<string, unknown>;
  if (declared !== undefined && declared !== typeUrl)
    return { ok: false, error: `${at}.@type: "${String(declared)}" does not belong under this group (expected ${typeUrl})` };
  try {
    const r = encodeResource(typeUrl, body);
    if (!r.name) return { ok: false, error: `${at}: the resource has no name` };
    return { ok: true, resource: r };
  } catch (e) {
    if (e instanceof ProtoJsonError) return { ok: false, error: `${at}.${e.message}` };
    return { ok: false, error: `${at}: ${(e as Error).message}` };
  }
}
